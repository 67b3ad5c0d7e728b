// Writes checkpoints 1, 2, 3, … of a large fake state, for the kill-mid-write test.
// Args: <checkpointDir> <floats per tensor>. Every value of checkpoint N is N (weights), N + 0.25 (m)
// and N + 0.5 (v), so a reader can tell a torn or mixed checkpoint. Prints "begin N" before and
// "done N" after each write; the parent SIGKILLs it somewhere in between.
import { pruneCheckpoints, writeCheckpoint } from '../../src/checkpoint';

const [dir, floats] = process.argv.slice(2);
const n = Number(floats);
for (let step = 1; step < 1000; step++) {
  const fill = (x: number) => new Float32Array(n).fill(x);
  process.stdout.write(`begin ${step}\n`);
  await writeCheckpoint(dir!, step, {
    variables: { 'big.weight': { shape: [n], values: fill(step) }, 'small.bias': { shape: [3], values: new Float32Array(3).fill(step) } },
    optimizer: { step, m: { 'big.weight': fill(step + 0.25), 'small.bias': new Float32Array(3).fill(step + 0.25) }, v: { 'big.weight': fill(step + 0.5), 'small.bias': new Float32Array(3).fill(step + 0.5) } },
    state: { step, note: 'x'.repeat(1000) },
  });
  await pruneCheckpoints(dir!, 2);
  process.stdout.write(`done ${step}\n`);
}
