import cliProgress from 'cli-progress';

/**
 * File bytes, not API answers: JSON (model info, trees, paths-info, xet reconstruction plans) and
 * the 1-byte range probes @huggingface/hub sends before each download are not counted. Plain
 * downloads and xet chunk transfers (compressed, so a little under the file size) are.
 */
export function isFileBody(res: Response): boolean {
  if ((res.headers.get('content-type') ?? '').includes('json')) return false;
  return !(res.status === 206 && Number(res.headers.get('content-length')) <= 1);
}

/**
 * A `fetch` that reports the body bytes of the responses `filter` accepts to `onBytes` as they are
 * read. The response keeps its status, headers and `url` (which @huggingface/hub compares with the
 * hub's origin).
 */
export function countingFetch(onBytes: (n: number) => void, inner: typeof fetch = fetch, filter: (res: Response) => boolean = isFileBody): typeof fetch {
  return async (input, init) => {
    const res = await inner(input, init);
    if (!res.body || !filter(res)) return res;
    const counted = res.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onBytes(chunk.byteLength);
          controller.enqueue(chunk);
        },
      }),
    );
    const out = new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url });
    return out;
  };
}

/** How a download reports progress: bytes so far of a known total. */
export interface ByteProgress {
  start(totalBytes: number): void;
  add(bytes: number): void;
  /** The file being fetched now. */
  file?(path: string, index: number, count: number): void;
  stop(): void;
}


/**
 * A cli-progress bar on `stream` (GB or MB done / total, MB/s, ETA, the current file) when it is a terminal; nothing
 * otherwise (the per-file lines are enough in logs).
 */
export function byteProgressBar(label: string, stream: NodeJS.WriteStream = process.stderr): ByteProgress | null {
  if (!stream.isTTY) return null;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} |{bar}| {done}/{all} {unit} {rate} MB/s ETA {eta_formatted} {file}`,
      stream,
      hideCursor: true,
      etaBuffer: 200,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let done = 0;
  let total = 0;
  let t0 = 0;
  let current = '';
  const payload = () => ({
    file: current,
    unit: total >= 1e9 ? 'GB' : 'MB',
    done: (done / (total >= 1e9 ? 1e9 : 1e6)).toFixed(2),
    all: (total / (total >= 1e9 ? 1e9 : 1e6)).toFixed(2),
    rate: (done / 1e6 / Math.max((Date.now() - t0) / 1000, 1e-3)).toFixed(1),
  });
  return {
    start(totalBytes) {
      total = totalBytes;
      t0 = Date.now();
      bar.start(total, 0, payload());
    },
    add(bytes) {
      if (t0 === 0) return; // before start(): the listing, not the files
      done += bytes;
      bar.update(Math.min(done, total), payload());
    },
    file(path, index, count) {
      current = `${path} (${index + 1}/${count})`;
      if (t0 !== 0) bar.update(Math.min(done, total), payload());
    },
    stop() {
      bar.stop();
    },
  };
}
