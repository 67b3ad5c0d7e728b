// The README's example (`pnpm example`): dropout on the cpu backend, its gradient, another seed.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '@conifer/dropout';

export async function main(log: (line: string) => void = console.log): Promise<void> {
  await tf.setBackend('cpu');
  const x = tf.tensor2d([[1, 2, 3, 4], [5, 6, 7, 8]]);
  const show = async (label: string, t: tf.Tensor) => log(`${label.padEnd(26)} ${Array.from(await t.data()).join(' ')}`);
  await show('dropout(x, 0.5, 42)', dropout(x, 0.5, 42)); // each element zeroed with p = 0.5, the rest × 2
  await show('its gradient (same mask)', tf.grad((t: tf.Tensor) => dropout(t, 0.5, 42))(x));
  await show('dropout(x, 0.5, 43)', dropout(x, 0.5, 43)); // another seed, another mask
  await show('dropout(x, 0.5, 42) again', dropout(x, 0.5, 42));
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
