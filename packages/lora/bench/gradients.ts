import * as tf from '@tensorflow/tfjs-core';

/**
 * tfjs-core's CommonJS bundle (what Node loads) registers no gradients, and its ESM sources cannot be
 * imported by Node directly. The bench needs only these five, written as tfjs-core writes them
 * (`gradients/BatchMatMul_grad.ts` etc., equal shapes only for Add/Mul's tensor side); each is
 * registered only when missing. Apps use `@conifer/trainer`'s `registerCoreGradients()`.
 */
export function registerBenchGradients(): void {
  const reg = (config: tf.GradConfig) => {
    if (!tf.getGradient(config.kernelName)) tf.registerGradient(config);
  };
  reg({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved as [tf.Tensor, tf.Tensor];
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      const d = dy as tf.Tensor;
      if (!transposeA && !transposeB) return { a: () => tf.matMul(d, b, false, true), b: () => tf.matMul(a, d, true, false) };
      if (!transposeA && transposeB) return { a: () => tf.matMul(d, b, false, false), b: () => tf.matMul(d, a, true, false) };
      if (transposeA && !transposeB) return { a: () => tf.matMul(b, d, false, true), b: () => tf.matMul(a, d, false, false) };
      return { a: () => tf.matMul(b, d, true, true), b: () => tf.matMul(d, a, true, true) };
    },
  });
  reg({ kernelName: 'Reshape', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.reshape(dy as tf.Tensor, x!.shape) }) });
  reg({ kernelName: 'Add', gradFunc: (dy) => ({ a: () => tf.clone(dy as tf.Tensor), b: () => tf.clone(dy as tf.Tensor) }) });
  reg({
    kernelName: 'Multiply',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, [a, b]) => ({
      a: () => tf.mul(dy as tf.Tensor, b!),
      b: () => (b!.size === 1 ? tf.reshape(tf.sum(tf.mul(dy as tf.Tensor, a!)), b!.shape) : tf.mul(dy as tf.Tensor, a!)),
    }),
  });
  reg({ kernelName: 'Sum', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(tf.onesLike(x!), tf.reshape(dy as tf.Tensor, x!.shape.map(() => 1))) }) });
}
