import cliProgress from 'cli-progress';
import type { ByteProgress } from '@conifer/t5-model';

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
