import { randomBytes } from 'node:crypto';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * Creates `path` atomically: `write` fills a temporary file in the same folder, which is then
 * fsynced and renamed over `path`, and the folder fsynced. A crash or a throwing `write` leaves
 * either the old file or the new one, never a torn one (the temporary file is removed on error).
 */
export async function writeAtomic(path: string, write: (handle: FileHandle) => Promise<void>): Promise<void> {
  // A name of its own ('wx': never an existing file), so two writes of one path at once cannot share it.
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  const handle = await open(tmp, 'wx');
  try {
    await write(handle);
    await handle.sync();
  } catch (e) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  try {
    const dir = await open(dirname(path), 'r');
    await dir.sync().catch(() => undefined);
    await dir.close();
  } catch {
    // fsync of a folder is not supported everywhere (e.g. Windows); the rename already happened.
  }
}

/** Writes `bytes` to `path` atomically ({@link writeAtomic}). */
export async function writeFileAtomic(path: string, bytes: Uint8Array | string): Promise<void> {
  await writeAtomic(path, (handle) => handle.writeFile(bytes));
}
