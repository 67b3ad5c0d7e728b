// Mixed-adapter batches (PEFT's `adapter_names`), on the two-layer fake host fed as T5 feeds its
// linears: [B, S, d] flattened to [B·S, d]. The reference is PEFT's definition of the feature,
// lora/layer.py `LoraLayer._mixed_batch_forward`: base(x) for every row, plus for each name the
// layer has (not "__base__") lora_B(lora_A(x[rows of that name])) · scaling on those rows only — so
// example i's rows are exactly a forward with only names[i] active (set_adapter(names[i])), or with
// the adapters disabled for "__base__". The refusals are PEFT's: lora/model.py
// `_enable_peft_forward_hooks` (training mode, non-existing adapters) and lora/layer.py
// `_check_forward_args` (length of adapter_names vs the inputs, merged adapters); its `num_beams`
// expansion (`sum(([n] * num_beams for n in adapter_names), [])`) must change nothing here.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE_ADAPTER_NAME, injectLora, type LoraModel } from '../src/index.js';
import { TwoLayerHost } from './helpers.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const S = 3; // rows (tokens) per example
/** x [B·S, 8] for B examples, as T5 flattens [B, S, d]. */
const input = (b: number, s = S) => tf.tensor2d(Array.from({ length: b * s * 8 }, (_, i) => Math.sin(1.3 * i + 0.4)), [b * s, 8]);
const run = (host: TwoLayerHost, x: tf.Tensor) => {
  const y = host.forward(x);
  const v = y.dataSync().slice() as Float32Array;
  y.dispose();
  return v;
};
/** Three adapters: "default" and "b" on q and v (ranks 2 and 3), "qonly" on q alone (a name layers.1.v lacks). */
const setup = () => {
  const host = new TwoLayerHost(5);
  const lora = injectLora(host, { target_modules: ['q', 'v'], r: 2, lora_alpha: 4, init_lora_weights: false }, { seed: 1 });
  lora.addAdapter('b', { target_modules: ['q', 'v'], r: 3, lora_alpha: 3, init_lora_weights: false }, { seed: 2 });
  lora.addAdapter('qonly', { target_modules: ['q'], r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 3 });
  return { host, lora };
};
/** The whole batch through the host with only `name` active (the adapters disabled for "__base__"). */
const single = (host: TwoLayerHost, lora: LoraModel, x: tf.Tensor, name: string) => {
  if (name === BASE_ADAPTER_NAME) return lora.withAdapterDisabled(() => run(host, x));
  const before = lora.activeAdapters;
  lora.setAdapter(name);
  const y = run(host, x);
  lora.setAdapter(before);
  return y;
};
/** Example i's rows (rowsPer rows of 4 outputs each) of y. */
const rowsOf = (y: Float32Array, i: number, rowsPer: number) => y.slice(i * rowsPer * 4, (i + 1) * rowsPer * 4);
const trainability = (lora: LoraModel) => lora.trainableVariables().map((v) => v.name);

describe('withAdapterNames: one adapter per example (PEFT adapter_names)', () => {
  it('example i gets exactly a forward with only names[i] active ("__base__": the base), bit for bit; twice in one call; nothing changes or leaks', () => {
    const { host, lora } = setup();
    const names = ['b', BASE_ADAPTER_NAME, 'default', 'qonly', 'b'];
    const x = input(names.length);
    const refs = new Map(['b', BASE_ADAPTER_NAME, 'default', 'qonly'].map((n) => [n, single(host, lora, x, n)]));
    // The four references differ from each other, so a row given the wrong adapter cannot pass.
    for (const [n, y] of refs) for (const [m, z] of refs) if (n < m) expect(y, `${n} vs ${m}`).not.toEqual(z);
    const active = lora.activeAdapters;
    const trainable = trainability(lora);
    const before = tf.memory().numTensors;
    const [y1, y2] = lora.withAdapterNames(names, () => {
      expect(lora.adapterNames).toEqual(names);
      for (const l of lora.layers.values()) expect(l.adapterNames).toEqual(names);
      return [run(host, x), run(host, x)]; // the second call reuses the row plans cached in the first
    });
    for (const y of [y1!, y2!]) {
      names.forEach((n, i) => expect(rowsOf(y, i, S), `example ${i} (${n})`).toEqual(rowsOf(refs.get(n)!, i, S)));
    }
    expect(tf.memory().numTensors).toBe(before); // the cached row plans are freed at the end
    expect(lora.adapterNames).toBeNull();
    for (const l of lora.layers.values()) expect(l.adapterNames).toBeNull();
    expect(lora.activeAdapters).toEqual(active);
    expect(trainability(lora)).toEqual(trainable);
    expect(run(host, x)).toEqual(refs.get('default')); // back to the active adapter for every row
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it('one name for all: the same as setAdapter(name) (or the base); the names ignore the active adapters', () => {
    const { host, lora } = setup();
    const x = input(2);
    lora.setAdapter(['default', 'b']); // both active: the mixed batch must not add them
    for (const n of ['b', 'qonly', BASE_ADAPTER_NAME]) {
      const want = single(host, lora, x, n);
      expect(lora.withAdapterNames([n, n], () => run(host, x)), n).toEqual(want);
    }
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it("beam search / num_return_sequences rows (b·k + beam, repeated in place) need no num_beams: PEFT's expanded names give the same", () => {
    const { host, lora } = setup();
    const names = ['qonly', 'b', BASE_ADAPTER_NAME];
    const k = 2;
    const x = input(names.length * k); // each example's S rows repeated k times in place
    const refs = new Map(names.map((n) => [n, single(host, lora, x, n)]));
    const before = tf.memory().numTensors;
    const y = lora.withAdapterNames(names, () => run(host, x));
    names.forEach((n, i) => expect(rowsOf(y, i, k * S), `example ${i} (${n})`).toEqual(rowsOf(refs.get(n)!, i, k * S)));
    const expanded = names.flatMap((n) => Array<string>(k).fill(n)); // PEFT: sum(([n] * num_beams for n in adapter_names), [])
    expect(lora.withAdapterNames(expanded, () => run(host, x))).toEqual(y);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it('disabled adapters win: every row gets the base (PEFT checks disable_adapters before adapter_names)', () => {
    const { host, lora } = setup();
    const x = input(2);
    const base = single(host, lora, x, BASE_ADAPTER_NAME);
    expect(lora.withAdapterDisabled(() => lora.withAdapterNames(['b', 'default'], () => run(host, x)))).toEqual(base);
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it('an adapter literally named "__base__" is skipped, as PEFT skips the name', () => {
    const { host, lora } = setup();
    lora.addAdapter(BASE_ADAPTER_NAME, { target_modules: ['q', 'v'], r: 2, lora_alpha: 2, init_lora_weights: false }, { seed: 4 });
    const x = input(2);
    lora.setAdapter(BASE_ADAPTER_NAME);
    const withIt = run(host, x);
    const base = lora.withAdapterDisabled(() => run(host, x));
    expect(withIt).not.toEqual(base);
    expect(lora.withAdapterNames([BASE_ADAPTER_NAME, 'b'], () => rowsOf(run(host, x), 0, S))).toEqual(rowsOf(base, 0, S));
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it('async fn: the names hold until its promise settles (resolved or rejected), and a second call meanwhile is refused', async () => {
    const { host, lora } = setup();
    const names = ['b', BASE_ADAPTER_NAME];
    const x = input(2);
    const want = lora.withAdapterNames(names, () => run(host, x));
    const before = tf.memory().numTensors;
    const pending = lora.withAdapterNames(names, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return run(host, x);
    });
    expect(lora.adapterNames).toEqual(names);
    expect(() => lora.withAdapterNames(['default'], () => 0)).toThrow(/withAdapterNames is already running/);
    expect(await pending).toEqual(want);
    expect(lora.adapterNames).toBeNull();
    await expect(
      lora.withAdapterNames(names, async () => {
        await Promise.resolve();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(lora.adapterNames).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    lora.unload();
    host.dispose();
  });

  it('a layer added inside the call follows its names', () => {
    const host = new TwoLayerHost(5);
    const lora = injectLora(host, { target_modules: ['q'], r: 2, lora_alpha: 4, init_lora_weights: false }, { seed: 1 });
    lora.withAdapterNames(['default', BASE_ADAPTER_NAME], () => {
      lora.addAdapter('vonly', { target_modules: ['v'], r: 2, lora_alpha: 2 });
      expect(lora.layers.get('layers.1.v')!.adapterNames).toEqual(['default', BASE_ADAPTER_NAME]);
    });
    expect(lora.layers.get('layers.1.v')!.adapterNames).toBeNull();
    lora.unload();
    host.dispose();
  });
});

describe('withAdapterNames refusals: one error each, nothing changed', () => {
  /** Runs `bad`, expects `message`, then checks the model is as it was and a mixed batch still works. */
  const refused = (message: RegExp, bad: (host: TwoLayerHost, lora: LoraModel, x: tf.Tensor) => void, after?: (lora: LoraModel) => void) => {
    const { host, lora } = setup();
    const x = input(2);
    const want = single(host, lora, x, 'default');
    const before = tf.memory().numTensors;
    expect(() => bad(host, lora, x)).toThrow(message);
    after?.(lora);
    expect(lora.adapterNames).toBeNull();
    for (const l of lora.layers.values()) expect(l.adapterNames).toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    expect(lora.activeAdapters).toEqual(['default']);
    expect(run(host, x)).toEqual(want);
    expect(lora.withAdapterNames(['default', 'default'], () => run(host, x))).toEqual(want);
    x.dispose();
    lora.unload();
    host.dispose();
  };

  it('training mode (PEFT: "Cannot pass `adapter_names` when the model is in training mode"); fn is not run', () => {
    let ran = false;
    refused(/training mode .*call eval\(\) first/, (_h, lora) => {
      lora.train();
      lora.withAdapterNames(['b', 'b'], () => (ran = true));
    }, (lora) => lora.eval());
    expect(ran).toBe(false);
  });

  it('train() inside the call: the next layer forward refuses', () => {
    refused(/layers\.0\.q: adapter names are for inference only/, (host, lora, x) => lora.withAdapterNames(['b', 'b'], () => {
      lora.train();
      run(host, x);
    }), (lora) => lora.eval());
  });

  it('unknown names, all listed and sorted (PEFT: "Trying to infer with non-existing adapter(s)")', () => {
    refused(/non-existing adapter\(s\): "aa", "zz" \(adapters: default, b, qonly/, (_h, lora) => lora.withAdapterNames(['zz', 'b', 'aa', 'zz'], () => 0));
  });

  it('empty, non-array and non-string names', () => {
    refused(/non-empty array of adapter names/, (_h, lora) => lora.withAdapterNames([], () => 0));
    refused(/non-empty array of adapter names.*got "b"/, (_h, lora) => lora.withAdapterNames('b' as unknown as string[], () => 0));
    refused(/non-empty array of adapter names/, (_h, lora) => lora.withAdapterNames(['b', 3 as unknown as string], () => 0));
    refused(/needs a function/, (_h, lora) => lora.withAdapterNames(['b'], undefined as unknown as () => void));
  });

  it('merged adapters (PEFT: "Cannot pass `adapter_names` when there are merged adapters"), at the call and in a layer merged inside it', () => {
    refused(/merged adapters \(2 layer\(s\), e\.g\. layers\.0\.q\); call unmerge\(\) first/, (_h, lora) => {
      lora.merge();
      lora.withAdapterNames(['b', 'b'], () => 0);
    }, (lora) => lora.unmerge());
    refused(/layers\.0\.q: cannot run with adapter names while adapters are merged \(default\)/, (host, lora, x) => lora.withAdapterNames(['b', 'b'], () => {
      lora.merge();
      run(host, x);
    }), (lora) => lora.unmerge());
  });

  it('a layer throwing mid-forward after another built its row plans (layers.1.v merged inside the call): the plans are freed, nothing leaks', () => {
    refused(/layers\.1\.v: cannot run with adapter names while adapters are merged \(default\)/, (host, lora, x) => lora.withAdapterNames(['b', 'default'], () => {
      lora.layers.get('layers.1.v')!.merge(['default']);
      run(host, x); // layers.0.q gathers its rows per name (kept index tensors), then layers.1.v throws
    }), (lora) => lora.unmerge());
  });

  it('rows that do not split into one equal group per name (PEFT: length of adapter_names vs the inputs)', () => {
    // 2 examples of 3 rows = 6 rows; 4 names cannot split them.
    refused(/layers\.0\.q: 4 adapter names for an input of 6 rows \(x \[6, 8\]\)/, (host, lora, x) => lora.withAdapterNames(['b', 'b', 'default', 'b'], () => run(host, x)));
  });

  it('a nested call', () => {
    refused(/already running/, (_h, lora) => lora.withAdapterNames(['b'], () => lora.withAdapterNames(['b'], () => 0)));
  });

  it('deleteAdapter of a name in use', () => {
    refused(/cannot delete adapter "b" while withAdapterNames runs with it/, (_h, lora) => lora.withAdapterNames(['b'], () => lora.deleteAdapter('b')));
  });

  it('an unloaded model', () => {
    const { host, lora } = setup();
    lora.unload();
    expect(() => lora.withAdapterNames(['b'], () => 0)).toThrow(/unloaded/);
    host.dispose();
  });
});
