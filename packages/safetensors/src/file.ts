import { open, type FileHandle } from 'node:fs/promises';
import type { Dtype } from './dtypes.js';
import { SafetensorsError } from './errors.js';
import { parseHeader, readHeaderLength, type SafetensorsHeader, type TensorInfo } from './header.js';

/** One tensor's raw bytes as stored, with its dtype and shape. */
export interface RawTensor {
  dtype: Dtype;
  shape: number[];
  /** Little-endian bytes exactly as in the file. */
  data: Uint8Array;
}

/**
 * A safetensors file opened for streamed reading: the header is read and validated on open,
 * each tensor's bytes are read on demand with a positioned read (the file is never loaded whole).
 */
export class SafetensorsFile {
  /** Set by {@link close}: a later {@link read} is a {@link SafetensorsError} naming the file, not Node's bare `file closed`. */
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    readonly header: SafetensorsHeader,
  ) {}

  /** Opens `path`, validating the header before allocating anything for tensor data. */
  static async open(path: string): Promise<SafetensorsFile> {
    const handle = await open(path, 'r');
    try {
      const stat = await handle.stat();
      // a folder opens on Linux and fails only at the read, with an EISDIR that does not name it
      if (!stat.isFile()) throw new SafetensorsError(`${path}: not a file (${stat.isDirectory() ? 'a folder' : 'a device, pipe or socket'})`);
      const { size } = stat;
      const first8 = new Uint8Array(8);
      if (size >= 8) await handle.read(first8, 0, 8, 0);
      const len = readHeaderLength(first8, size, path);
      const headerBytes = new Uint8Array(len);
      await readFully(handle, headerBytes, 8, path);
      const header = parseHeader(headerBytes, size, path);
      return new SafetensorsFile(path, handle, header);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  /** Tensor names in file order of their data. */
  names(): string[] {
    return [...this.header.tensors.entries()].sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]).map(([n]) => n);
  }

  info(name: string): TensorInfo {
    const info = this.header.tensors.get(name);
    if (!info) throw new SafetensorsError(`${this.path}: no tensor named "${name}"`);
    return info;
  }

  /** Reads one tensor's bytes. After {@link close}, a {@link SafetensorsError} saying so. */
  async read(name: string): Promise<RawTensor> {
    if (this.closed) throw this.closedError(name);
    const info = this.info(name);
    const [b, e] = info.dataOffsets;
    const data = new Uint8Array(e - b);
    try {
      await readFully(this.handle, data, this.header.dataStart + b, this.path);
    } catch (err) {
      // closed while a long read was under way (between its chunks): Node's EBADF `file closed` names no file
      if (this.closed && (err as NodeJS.ErrnoException).code === 'EBADF') throw this.closedError(name);
      throw err;
    }
    return { dtype: info.dtype, shape: [...info.shape], data };
  }

  /**
   * Closes the file. Closing again does nothing (as Node's `FileHandle.close`); `names()`, `info()` and `header`
   * still answer (they hold no file access), `read()` is an error naming the file.
   */
  async close(): Promise<void> {
    this.closed = true;
    await this.handle.close();
  }

  private closedError(name: string): SafetensorsError {
    return new SafetensorsError(`${this.path}: cannot read "${name}": the file was closed (open it again with SafetensorsFile.open)`);
  }
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number, where: string): Promise<void> {
  let done = 0;
  while (done < into.byteLength) {
    const { bytesRead } = await handle.read(into, done, into.byteLength - done, position + done);
    if (bytesRead === 0) throw new SafetensorsError(`${where}: unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
}

/** Reads every tensor of a (small) file: for adapters and test fixtures. */
export async function readSafetensorsFile(path: string): Promise<{ tensors: Map<string, RawTensor>; metadata: Record<string, string> | undefined }> {
  const file = await SafetensorsFile.open(path);
  try {
    const tensors = new Map<string, RawTensor>();
    for (const name of file.names()) tensors.set(name, await file.read(name));
    return { tensors, metadata: file.header.metadata };
  } finally {
    await file.close();
  }
}
