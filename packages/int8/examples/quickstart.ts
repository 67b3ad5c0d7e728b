// Run: npx tsup && npx tsx examples/quickstart.ts   (from packages/int8)
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { Int8Linear, int8MatMul, measureHeldBytes, planT5Memory } from '@conifer/int8';

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const w = tf.randomNormal([256, 512], 0, 0.05, 'float32', 1) as tf.Tensor2D; // [out, in], nn.Linear layout
  const { result: layer, bytes } = measureHeldBytes(() => Int8Linear.fromFloat32(w));
  console.log(`int8 weight: ${bytes} bytes held vs ${w.size * 4} float32 (${((100 * bytes) / (w.size * 4)).toFixed(1)} %)`);

  const x = tf.randomNormal([2, 3, 512], 0, 1, 'float32', 2); // [batch, seq, in]
  const y = layer.apply(x); // [2, 3, 256]
  const ref = tf.matMul(tf.reshape(x, [6, 512]), w, false, true); // [6, 256]
  const rel = (a: tf.Tensor) => tf.tidy(() => tf.div(tf.norm(tf.sub(tf.reshape(a, [6, 256]), ref)), tf.norm(ref)).dataSync()[0]!);
  console.log(`weight-only: shape [${y.shape.join(', ')}], relative error vs float32 ${rel(y).toExponential(2)}`);

  const llm = Int8Linear.fromFloat32(w, undefined, { mode: 'llm-int8', threshold: 6 });
  console.log(`llm-int8:    relative error vs float32 ${rel(llm.apply(x)).toExponential(2)}`);

  // dX = dY · Ŵ. (Node's tfjs-core bundle registers no gradients of its own, so this differentiates
  // the int8 op alone; through Int8Linear.apply it needs tfjs-core's gradients, e.g. @conifer/trainer's.)
  const x2d = tf.reshape(x, [6, 512]) as tf.Tensor2D; // [N, in]
  const dy = tf.onesLike(ref); // [N, out]
  const dx = tf.grad((xx: tf.Tensor) => int8MatMul(xx as tf.Tensor2D, layer.packed, layer.scale))(x2d, dy);
  const dxRef = tf.matMul(dy, layer.dequantize()); // [N, in]
  console.log(`gradient wrt x: shape [${dx.shape.join(', ')}], max |dx − dY·Ŵ| = ${tf.max(tf.abs(tf.sub(dx, dxRef))).dataSync()[0]}`);

  // The keys of google/flan-ul2's config.json that size its weights (planT5Memory takes the whole file too;
  // that file has no tie_word_embeddings key, so the default, tied, applies).
  const flanUl2 = {
    d_model: 4096, d_ff: 16384, num_heads: 16, d_kv: 256, num_layers: 32, num_decoder_layers: 32,
    vocab_size: 32128, relative_attention_num_buckets: 32, feed_forward_proj: 'gated-silu',
  };
  const plan = planT5Memory(flanUl2);
  const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
  console.log(`Flan-UL2: ${(plan.parameters / 1e9).toFixed(2)} B parameters, ${gb(plan.float32Bytes)} float32, ${gb(plan.int8Bytes)} int8`);
}

main();
