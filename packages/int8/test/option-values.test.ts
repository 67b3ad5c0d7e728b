import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Int8Linear, int8LinearFactory, int8MatMul, planT5Memory, quantizeFloat32, setWebGPUInt8Kernels } from '../src/index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const w = new Float32Array([1, -2, 3, 0.5, 4, -1, 2, 2]);
const spec = { path: 'encoder.block.0.layer.0.SelfAttention.q', inFeatures: 4, outFeatures: 2, weight: { dtype: 'F32' as const, shape: [2, 4], data: new Uint8Array(w.buffer) } };

describe('option values that were taken silently, or refused only later, are one error with the unknown keys', () => {
  it('int8LinearFactory: mode, threshold, shouldQuantize, fallback checked at creation, before any weight', () => {
    expect(() => int8LinearFactory({ mode: '', threshold: -1, shouldQuantize: ['wo'], fallbak: () => null } as never)).toThrow(
      'int8LinearFactory: unknown option `fallbak` (did you mean `fallback`?); mode must be "weight-only" or "llm-int8", got ""; '
      + 'threshold must be >= 0 (0: no outlier columns), got -1; shouldQuantize must be a function (spec) => boolean, e.g. skipModules([...])');
    expect(() => int8LinearFactory({ threshold: '6', fallback: 'float32' } as never)).toThrow(
      'int8LinearFactory: threshold must be >= 0 (0: no outlier columns), got "6"; fallback must be a function (spec) => Linear');
    const before = tf.memory().numTensors;
    const layer = int8LinearFactory({ mode: 'llm-int8', threshold: 0 })(spec) as Int8Linear;
    expect([layer.mode, layer.threshold]).toEqual(['llm-int8', 0]);
    layer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('Int8Linear.from*: keys, mode and threshold are one error (a string threshold was compared as a number); int8MatMul refuses it too', () => {
    const before = tf.memory().numTensors;
    const q = quantizeFloat32(w, 2, 4);
    expect(() => Int8Linear.fromQuantized(q, { threshold: '6' } as never)).toThrow('Int8Linear.fromQuantized: threshold must be >= 0 (0: no outlier columns), got "6"');
    // an unknown key and a bad value: one error, before the weight is quantized
    expect(() => Int8Linear.fromFloat32(w, [2, 4], { mdoe: 'llm-int8', threshold: -1 } as never)).toThrow(
      /^Int8Linear\.fromFloat32: unknown option `mdoe` \(did you mean `mode`\?\); threshold must be >= 0 \(0: no outlier columns\), got -1$/);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const packed = tf.tensor2d(q.packed, [2, 1], 'int32');
    const scale = tf.tensor1d(q.scale);
    expect(() => int8MatMul(x, packed, scale, { mode: 'llm-int8', threshold: '6' } as never)).toThrow('int8MatMul: threshold must be >= 0 (0: no outlier columns), got "6"');
    // int8MatMul too: keys, mode and threshold in one error
    expect(() => int8MatMul(x, packed, scale, { mdoe: 'x', mode: 'bad', threshold: -1 } as never)).toThrow(
      /^int8MatMul: unknown option `mdoe` \(did you mean `mode`\?\); mode must be "weight-only" or "llm-int8", got "bad"; threshold must be >= 0 \(0: no outlier columns\), got -1$/);
    // a function is shown as one (JSON.stringify made it "undefined")
    expect(() => Int8Linear.fromQuantized(q, { mode: () => 1 } as never)).toThrow(/^Int8Linear\.fromQuantized: mode must be "weight-only" or "llm-int8", got a function$/);
    tf.dispose([x, packed, scale]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('setWebGPUInt8Kernels: values outside the listed ones are refused with the keys; the options stay as they were', () => {
    expect(() => setWebGPUInt8Kernels({ path: 'fast', tiledCols: 6, tiledRow: 8 } as never)).toThrow(
      'setWebGPUInt8Kernels: unknown option `tiledRow` (did you mean `tiledRows`?); path must be "auto", "tiled", "simple", got "fast"; tiledCols must be 4, 8, got 6');
    expect(() => setWebGPUInt8Kernels({ tiledRows: '8' } as never)).toThrow('setWebGPUInt8Kernels: tiledRows must be "auto", 4, 8, got "8"');
    expect(setWebGPUInt8Kernels({})).toEqual({ path: 'auto', tiledRows: 'auto', tiledCols: 4 });
    const prev = setWebGPUInt8Kernels({ path: 'simple', tiledRows: 8, tiledCols: 8 });
    expect(setWebGPUInt8Kernels(prev)).toEqual({ path: 'simple', tiledRows: 8, tiledCols: 8 });
  });

  it('an options argument that is not an object is refused, not read as no options; planT5Memory\'s quantizeLmHead must be a boolean', () => {
    const q = quantizeFloat32(w, 2, 4);
    const before = tf.memory().numTensors;
    expect(() => Int8Linear.fromQuantized(q, null as never)).toThrow(/^Int8Linear\.fromQuantized: options must be an object, got null$/);
    expect(() => Int8Linear.fromQuantized(q, 'llm-int8' as never)).toThrow(/^Int8Linear\.fromQuantized: options must be an object, got a string "llm-int8"$/);
    expect(() => int8LinearFactory(['wo'] as never)).toThrow(/^int8LinearFactory: options must be an object, got an array$/);
    expect(() => setWebGPUInt8Kernels(null as never)).toThrow(/^setWebGPUInt8Kernels: options must be an object, got null$/);
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const packed = tf.tensor2d(q.packed, [2, 1], 'int32');
    const scale = tf.tensor1d(q.scale);
    expect(() => int8MatMul(x, packed, scale, 'llm-int8' as never)).toThrow(/^int8MatMul: options must be an object, got a string "llm-int8"$/);
    tf.dispose([x, packed, scale]);
    const config = { d_model: 8, d_kv: 2, num_heads: 2, d_ff: 16, num_layers: 1, vocab_size: 32 };
    expect(() => planT5Memory(config, true as never)).toThrow(/^planT5Memory: options must be an object, got boolean true$/);
    expect(() => planT5Memory(config, { quantizeLmHead: 'no', quantize_lm_head: true } as never)).toThrow(
      /^planT5Memory: unknown option `quantize_lm_head` \(did you mean `quantizeLmHead`\?\); quantizeLmHead must be true or false, got "no"$/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
