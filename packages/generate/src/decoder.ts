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
    this.signal?.throwIfAborted();
    const rows = prefixes.length;
    const len = (prefixes[0] as readonly number[]).length;
    const width = this.useCache && this.cache !== null ? 1 : len;
    const flat = new Int32Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const p = prefixes[r] as readonly number[];
      for (let t = 0; t < width; t++) flat[r * width + t] = p[len - width + t] as number;
    }
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
      if (b !== rows) throw new Error(`decodeStep returned logits for ${b} rows, expected ${rows}`);
      data = (await out.logits.data()) as Float32Array;
    } finally {
      out.logits.dispose();
    }
    const rowsOut: Float32Array[] = [];
    for (let r = 0; r < rows; r++) {
      const off = (r * t + t - 1) * vocab; // last position of row r
      rowsOut.push(data.slice(off, off + vocab));
    }
    return rowsOut;
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
