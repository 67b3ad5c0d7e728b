/** Every problem with a safetensors file is reported as this error, naming the file when known. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}
