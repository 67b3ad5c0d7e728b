import * as tf from '@tensorflow/tfjs-core';
import type { Seq2Seq } from './types.js';

/**
 * Runs the decoder one step at a time for a set of rows and owns its cache. With the cache, each step
 * feeds the rows' last tokens; without it, each step re-runs the decoder on the whole prefix and drops
 * the cache it returns. Logits come back as one float32 row (last position) per sequence.
 */
export class Decoder<Enc, Cache> {
  private cache: Cache | null = null;

  constructor(
    private readonly model: Seq2Seq<Enc, Cache>,
    private readonly encoder: Enc,
    private readonly useCache: boolean,
    private readonly signal?: AbortSignal,
  ) {}

  /**
   * Next-token logits for each row; `prefixes[r]` is row r's decoder sequence so far (start token first).
   * Throws the signal's reason (an `AbortError` by default) when it was aborted, before running the model.
   */
  async step(prefixes: readonly (readonly number[])[]): Promise<Float32Array[]> {
    const rows = prefixes.length;
    const len = (prefixes[0] as readonly number[]).length;
    const width = this.useCache && this.cache !== null ? 1 : len;
    const flat = new Int32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const p = prefixes[r] as readonly number[];
      for (let t = 0; t < width; t++) flat[r * width + t] = p[len - width + t] as number;
    }
    const { data, t, vocab } = await this.run(flat, rows, width, (b) => (b !== rows ? `decodeStep returned logits for ${b} rows, expected ${rows}` : undefined));
    const rowsOut: Float32Array[] = [];
    for (let r = 0; r < rows; r++) {
      const off = (r * t + t - 1) * vocab; // last position of row r
      rowsOut.push(data.slice(off, off + vocab));
    }
    return rowsOut;
  }

  /**
   * Assisted decoding (one row, cache on): feeds `tokens` after the positions already cached and returns one logits row
   * per fed token (row i = the next-token logits after `tokens[i]`). transformers' `_assisted_decoding` step 2: one
   * forward pass over the last accepted token and the candidates. Throws the signal's reason when aborted.
   */
  async feed(tokens: readonly number[]): Promise<Float32Array[]> {
    const { data, t, vocab } = await this.run(Int32Array.from(tokens), 1, tokens.length, (b, t, shape) =>
      b !== 1 || t !== tokens.length ? `decodeStep returned logits [${shape}] for ${tokens.length} tokens of one row` : undefined,
    );
    return Array.from({ length: t }, (_, i) => data.slice(i * vocab, (i + 1) * vocab));
  }

  /**
   * One `decodeStep` over `flat` as a (rows, width) int32 tensor, for `step` and `feed`: checks the signal first, keeps
   * the returned cache (with `useCache`; otherwise frees it), and reads the logits back as one flat float32 array.
   * `badShape` names what is wrong with the logits' shape (undefined = fine); its message is thrown, and the logits
   * are freed either way.
   */
  private async run(
    flat: Int32Array,
    rows: number,
    width: number,
    badShape: (b: number, t: number, shape: readonly number[]) => string | undefined,
  ): Promise<{ data: Float32Array; t: number; vocab: number }> {
    this.signal?.throwIfAborted();
    const tokens = tf.tensor2d(flat, [rows, width], 'int32'); // (B, T)
    let out: { logits: tf.Tensor3D; cache: Cache };
    try {
      out = this.model.decodeStep(tokens, this.encoder, this.useCache ? this.cache : null);
    } finally {
      tokens.dispose();
    }
    this.cache = null; // consumed by decodeStep
    if (this.useCache) this.cache = out.cache;
    else this.model.disposeCache(out.cache);
    const [b, t, vocab] = out.logits.shape; // (B, T, V)
    let data: Float32Array;
    try {
      const problem = badShape(b, t, out.logits.shape);
      if (problem !== undefined) throw new Error(problem);
      data = (await out.logits.data()) as Float32Array;
    } finally {
      out.logits.dispose();
    }
    return { data, t, vocab };
  }

  /** Keeps the first `length` cached positions (`DynamicCache.crop`): drops those of rejected candidates. */
  crop(length: number): void {
    if (this.cache === null) return;
    const crop = this.model.cropCache;
    if (typeof crop !== 'function') throw new Error('assisted decoding needs `cropCache` on the model');
    // On a throw the old cache stays here (and is freed by `dispose`).
    this.cache = crop.call(this.model, this.cache, length);
  }

  /** Keeps cache rows `indices` (beams), a gather done by the model; skipped when it is the identity. */
  reorder(indices: readonly number[]): void {
    if (this.cache === null) return;
    if (indices.every((v, i) => v === i)) return;
    const idx = tf.tensor1d(Int32Array.from(indices), 'int32');
    try {
      const old = this.cache;
      this.cache = null;
      this.cache = this.model.reorderCache(old, idx);
    } finally {
      idx.dispose();
    }
  }

  dispose(): void {
    if (this.cache !== null) this.model.disposeCache(this.cache);
    this.cache = null;
  }
}
