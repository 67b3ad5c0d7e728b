import { join } from 'node:path';

/**
 * PEFT's `subfolder` keyword (`PeftModel.from_pretrained(model, id, subfolder=…)`, `load_adapter`,
 * `PeftConfig.from_pretrained`, `load_peft_weights`): the adapter's files are in `<dirOrId>/<subfolder>/`,
 * locally (`os.path.join(model_id, subfolder)`) and on the hub (`hf_hub_download(…, subfolder=…)`, i.e.
 * `<subfolder>/adapter_config.json`). Returns the subfolder in the hub's form (`/`-separated, no
 * trailing `/`), or undefined when none is given — `""` included, the top level, as huggingface_hub's
 * `hf_hub_download` (`if subfolder == "": subfolder = None`) and `os.path.join(model_id, "")` read it. A
 * path that could leave the folder or repository — absolute, a drive, a `..`, `.` or empty segment, a
 * backslash — is refused with one error (PEFT joins it unchecked).
 */
export function checkSubfolder(subfolder: string | undefined): string | undefined {
  if (subfolder === undefined || subfolder === '') return undefined;
  const bad = (why: string) => new Error(`LoRA: subfolder ${JSON.stringify(subfolder)} ${why}; give a relative path inside the adapter folder or repository, e.g. "adapters/summarize"`);
  if (typeof subfolder !== 'string') throw bad('is not a string');
  if (subfolder.includes('\\')) throw bad('contains a backslash');
  if (subfolder.startsWith('/') || /^[A-Za-z]:/.test(subfolder)) throw bad('is absolute');
  const trimmed = subfolder.replace(/\/+$/, '');
  const segments = trimmed.split('/');
  if (segments.includes('..')) throw bad('goes up with ".."');
  if (segments.some((s) => s === '' || s === '.')) throw bad('has an empty or "." segment');
  return trimmed;
}

/** `dir` joined with a checked {@link checkSubfolder} (or `dir` itself without one). */
export function joinSubfolder(dir: string, subfolder: string | undefined): string {
  const sub = checkSubfolder(subfolder);
  return sub === undefined ? dir : join(dir, ...sub.split('/'));
}

/**
 * A checked subfolder that can be fetched from the hub: `@huggingface/hub` puts a path into its request
 * URLs unescaped (its tree and `resolve` URLs), where `#`, `?` and `%` would make them name another path
 * (huggingface_hub's `hf_hub_url` quotes them). Refused with one error before any request.
 */
export function checkHubSubfolder(subfolder: string | undefined): string | undefined {
  const sub = checkSubfolder(subfolder);
  const bad = sub === undefined ? undefined : /[#?%]/.exec(sub)?.[0];
  if (bad !== undefined) {
    throw new Error(`LoRA: subfolder ${JSON.stringify(subfolder)} contains "${bad}", which the hub client would send unescaped in its request URLs (so they would name another path); download the repository and pass the local folder instead`);
  }
  return sub;
}
