import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const built = existsSync(`${pkg}/dist/index.js`) && existsSync(`${pkg}/dist/index.cjs`);
if (!built) console.warn('@conifer/trainer: dist/ not built (run `npx tsup`): skipping the gradient-registration tests on the bundle');

const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: pkg, encoding: 'utf8', timeout: 30_000 });
const grad = 'tf.grad((x) => tf.sum(tf.matMul(x, x)))(tf.ones([2, 2])).dataSync().join(",")';

describe.skipIf(!built)('registerCoreGradients on the built bundle (plain node, no vitest setup)', () => {
  it('ESM: gradients work after registerCoreGradients()', () => {
    const r = run([
      '--input-type=module',
      '-e',
      `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu'; import { registerCoreGradients } from './dist/index.js'; registerCoreGradients(); console.log('GRAD ' + ${grad});`,
    ]);
    expect(r.stdout + r.stderr).toContain('GRAD 4,4,4,4');
  });

  it('CJS: gradients work after registerCoreGradients()', () => {
    const r = run(['-e', `const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu'); require('./dist/index.cjs').registerCoreGradients(); console.log('GRAD ' + ${grad});`]);
    expect(r.stdout + r.stderr).toContain('GRAD 4,4,4,4');
  });

  it('without it, the bare CommonJS tfjs-core has no gradients (the reason it exists)', () => {
    const r = run(['-e', `const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu'); try { ${grad}; console.log('HAS'); } catch (e) { console.log('NONE ' + e.message); }`]);
    expect(r.stdout).toMatch(/NONE .*gradient/i);
  });

  it('the bundle trains (AdamW + variableGrads on the app tfjs-core engine)', () => {
    const r = run([
      '--input-type=module',
      '-e',
      `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu'; import { train } from './dist/index.js';
       const w = tf.variable(tf.scalar(0), true, 'w');
       const model = { trainableVariables: () => [w], lossSum: (b) => ({ sum: tf.tidy(() => tf.sum(tf.square(tf.sub(tf.mul(tf.tensor1d(b.x), w), tf.tensor1d(b.y))))), count: b.x.length }) };
       const batches = [{ x: [1, 2], y: [3, 6] }, { x: [3], y: [9] }];
       const data = { *batches(c) { for (let p = c.position; p < 2; p++) yield { batch: batches[p], next: p < 1 ? { epoch: c.epoch, position: p + 1 } : { epoch: c.epoch + 1, position: 0 } }; } };
       const r = await train({ model, data, epochs: 200, lr: 0.1, weightDecay: 0, logger: false });
       console.log('W ' + w.dataSync()[0].toFixed(1) + ' STEPS ' + r.step);`,
    ]);
    expect(r.stdout + r.stderr).toContain('W 3.0 STEPS 400');
  });

  // package.json says sideEffects: false. A bundler may then drop a module none of whose exports
  // is used; the gradient registrations sit at the top level of dist/index.js, the module that
  // exports registerCoreGradients (and train), so an app that calls either keeps them.
  const esbuild = findEsbuild();
  it.skipIf(!esbuild)('an app bundle (esbuild, tree shaking, sideEffects honoured) that calls registerCoreGradients() keeps the gradients', async () => {
    const entry = `${pkg}/.bundle-entry-${process.pid}.mjs`;
    const out = `${pkg}/.bundle-out-${process.pid}.mjs`;
    try {
      writeFileSync(entry, `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu'; import { registerCoreGradients } from '@conifer/trainer'; registerCoreGradients(); console.log('GRAD ' + ${grad});`);
      await esbuild!.build({
        entryPoints: [entry], outfile: out, bundle: true, format: 'esm', platform: 'node', treeShaking: true, minifySyntax: true, logLevel: 'silent',
        external: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', 'seedrandom', 'cli-progress', '@conifer/safetensors'],
      });
      const r = run([out]);
      expect(r.stdout + r.stderr).toContain('GRAD 4,4,4,4');
    } finally {
      rmSync(entry, { force: true });
      rmSync(out, { force: true });
    }
  });
});

/** esbuild, as tsup (a root dev dependency) resolves it; null where it cannot be found. */
function findEsbuild(): { build(options: Record<string, unknown>): Promise<unknown> } | null {
  try {
    const fromTsup = createRequire(createRequire(import.meta.url).resolve('tsup'));
    return fromTsup('esbuild') as { build(options: Record<string, unknown>): Promise<unknown> };
  } catch {
    return null;
  }
}
