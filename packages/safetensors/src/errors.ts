/** Every problem with a safetensors file is reported as this error, naming the file when known. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** `text` for a message: whole up to `max` characters, else its start and its length (a hostile header can hold 100 MB). */
export function clip(text: string, max = 80): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
