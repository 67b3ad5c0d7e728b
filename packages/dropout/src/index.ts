export { dropout, dropoutAttrs, dropoutByHostMask, registerDropoutKernels } from './dropout';
export { DropoutAdd, dropoutAdd, registerDropoutAddKernels } from './dropout-add';
export { Dropout, type DropoutAttrs } from './kernel-names';
export { bits24, fmix32, keyOf, threshold, WGSL_HASH } from './hash';
export { hostDropout, hostMask } from './host';
export { dropoutProgram, webgpuDropout } from './webgpu';
export {
  hostUniformNoise,
  noiseKeyOf,
  noiseUnit,
  registerUniformNoiseKernels,
  UniformNoise,
  uniformNoise,
  uniformNoiseAttrs,
  uniformNoiseProgram,
  type UniformNoiseAttrs,
} from './noise';
