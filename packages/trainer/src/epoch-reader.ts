import type { Cursor, CursorBatch, DataSource } from './types.js';

/** One optimizer step's micro-batches. */
export interface Window<B> {
  batches: B[];
  /** The cursor after the last of them (inside the epoch; the caller moves it on when `epochEnded`). */
  cursor: Cursor;
  /** Whether these are the epoch's last batches (known before the step is taken). */
  epochEnded: boolean;
}

/**
 * Reads one epoch of a {@link DataSource} as accumulation windows, and says of each window whether
 * it ends the epoch, however the source tells it: by a cursor into the next epoch (as
 * `@conifer/dolly-data`'s `BatchSampler` does on an epoch's last batch) or only by ending its
 * iterator (a source whose last cursor stays in the epoch). For the latter it reads one batch ahead,
 * so that the epoch's last step is known as such before anything is saved after it.
 */
export class EpochReader<B> {
  private readonly it: Iterator<CursorBatch<B>>;
  private ahead: IteratorResult<CursorBatch<B>> | null = null;
  private ended = false;
  private cursor: Cursor;

  constructor(
    data: DataSource<B>,
    from: Cursor,
  ) {
    this.cursor = from;
    this.it = data.batches(from)[Symbol.iterator]();
  }

  /** Up to `size` batches (fewer at the epoch's end; none once it has ended). */
  next(size: number): Window<B> {
    const epoch = this.cursor.epoch;
    const batches: B[] = [];
    while (!this.ended && batches.length < size) {
      const r = this.ahead ?? this.it.next();
      this.ahead = null;
      if (r.done) {
        this.ended = true;
        break;
      }
      batches.push(r.value.batch);
      this.cursor = r.value.next;
      if (this.cursor.epoch !== epoch) this.ended = true;
    }
    if (!this.ended && batches.length > 0) {
      this.ahead = this.it.next();
      if (this.ahead.done) this.ended = true;
    }
    return { batches, cursor: this.cursor, epochEnded: this.ended };
  }
}
