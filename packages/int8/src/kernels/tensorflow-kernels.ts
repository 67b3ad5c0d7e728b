/**
 * UNTESTED: kernels for the `tensorflow` backend (@tensorflow/tfjs-node / -node-gpu), which
 * cannot be installed where this package is developed. The packed int32 weight is reinterpreted
 * by TF `Bitcast` as uint8 `[N, KW, 4]` (tfjs-node hands uint8 results back as int32 handles,
 * so the bytes stay in TF's memory, on the GPU with -node-gpu), `Cast` to float, made signed
 * (v − 256·⌊v/128⌋), scaled per row and multiplied with TF `MatMul`. weight-only only.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { Int8Dequantize, Int8MatMul, type Int8DequantizeAttrs, type Int8MatMulAttrs } from '../kernel-names';

interface OpAttr { name: string; type: number; value: boolean | number | object | string | number[] }
/** The part of tfjs-node's `NodeJSKernelBackend` used here. */
interface NodeBackendLike {
  binding: { TF_FLOAT: number; TF_INT32: number; TF_UINT8: number; TF_ATTR_TYPE: number; TF_ATTR_BOOL: number };
  executeSingleOutput(name: string, opAttrs: OpAttr[], inputs: tf.TensorInfo[]): tf.Tensor;
  makeTensorInfo(shape: number[], dtype: string, values?: Int32Array | Float32Array): tf.TensorInfo;
  disposeData(dataId: object): void;
}

/** `q · scale` as float32 `[N, K]` computed by TF ops; every intermediate is disposed. */
function dequantizeTf(b: NodeBackendLike, packed: tf.TensorInfo, scale: tf.TensorInfo, K: number): tf.Tensor {
  const { TF_FLOAT: F, TF_INT32: I, TF_UINT8: U8, TF_ATTR_TYPE: TYPE, TF_ATTR_BOOL: BOOL } = b.binding;
  const T = (t: number): OpAttr => ({ name: 'T', type: TYPE, value: t });
  const temps: tf.Tensor[] = [];
  const consts: tf.TensorInfo[] = [];
  const op = (name: string, attrs: OpAttr[], inputs: tf.TensorInfo[]) => {
    const t = b.executeSingleOutput(name, attrs, inputs);
    temps.push(t);
    return t;
  };
  const konst = (values: number[], dtype: 'int32' | 'float32') => {
    const info = b.makeTensorInfo([values.length], dtype, dtype === 'int32' ? new Int32Array(values) : new Float32Array(values));
    consts.push(info);
    return info;
  };
  const N = packed.shape[0] as number;
  const KW = packed.shape[1] as number;
  const u8 = op('Bitcast', [T(I), { name: 'type', type: TYPE, value: U8 }], [packed]); // uint8 [N, KW, 4]
  const f = op('Cast', [{ name: 'SrcT', type: TYPE, value: U8 }, { name: 'DstT', type: TYPE, value: F }, { name: 'Truncate', type: BOOL, value: false }], [u8]);
  const flat = op('Reshape', [T(F), { name: 'Tshape', type: TYPE, value: I }], [f, konst([N, KW * 4], 'int32')]); // [N, 4·KW]
  const rows = KW * 4 === K ? flat : op('Slice', [T(F), { name: 'Index', type: TYPE, value: I }], [flat, konst([0, 0], 'int32'), konst([N, K], 'int32')]); // [N, K]
  const high = op('Floor', [T(F)], [op('Mul', [T(F)], [rows, konst([1 / 128], 'float32')])]);
  const signed = op('Sub', [T(F)], [rows, op('Mul', [T(F)], [high, konst([256], 'float32')])]);
  const col = op('Reshape', [T(F), { name: 'Tshape', type: TYPE, value: I }], [scale, konst([N, 1], 'int32')]); // [N, 1]
  const w = b.executeSingleOutput('Mul', [T(F)], [signed, col]);
  for (const t of temps) t.dispose();
  for (const c of consts) b.disposeData(c.dataId);
  return w;
}

export const tensorflowInt8MatMul: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const b = backend as unknown as NodeBackendLike;
  const { x, packed, scale } = inputs as { x: tf.TensorInfo; packed: tf.TensorInfo; scale: tf.TensorInfo };
  const { mode, inFeatures, transposeWeight } = attrs as unknown as Int8MatMulAttrs;
  if (mode !== 'weight-only') throw new Error(`${Int8MatMul}: the tensorflow backend implements mode "weight-only" only, got "${mode}"`);
  const w = dequantizeTf(b, packed, scale, inFeatures);
  const { TF_FLOAT: F, TF_ATTR_TYPE: TYPE, TF_ATTR_BOOL: BOOL } = b.binding;
  const y = b.executeSingleOutput('MatMul', [
    { name: 'T', type: TYPE, value: F },
    { name: 'transpose_a', type: BOOL, value: false },
    { name: 'transpose_b', type: BOOL, value: transposeWeight },
  ], [x, w]);
  w.dispose();
  return y;
};

export const tensorflowInt8Dequantize: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { packed, scale } = inputs as { packed: tf.TensorInfo; scale: tf.TensorInfo };
  return dequantizeTf(backend as unknown as NodeBackendLike, packed, scale, (attrs as unknown as Int8DequantizeAttrs).inFeatures);
};

export function tensorflowKernelConfigs(): tf.KernelConfig[] {
  return [
    { kernelName: Int8MatMul, backendName: 'tensorflow', kernelFunc: tensorflowInt8MatMul },
    { kernelName: Int8Dequantize, backendName: 'tensorflow', kernelFunc: tensorflowInt8Dequantize },
  ];
}
