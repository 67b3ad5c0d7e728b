export { DTYPE_BYTES, type Dtype, isDtype, numElements } from './dtypes.js';
export { SafetensorsError } from './errors.js';
export { MAX_HEADER_BYTES, parseHeader, readHeaderLength, type SafetensorsHeader, type TensorInfo } from './header.js';
export { SafetensorsFile, readSafetensorsFile, type RawTensor } from './file.js';
export { parseSafetensors } from './buffer.js';
export { serializeSafetensors, type TensorToWrite } from './serialize.js';
export { decodeFloatsInto, type FloatDtype, halfToFloat, toFloat32, toInt32, float32ToBf16Bits } from './convert.js';
export { writeFileAtomic } from './atomic.js';
export { resolveCheckpointFiles } from './sharded.js';
