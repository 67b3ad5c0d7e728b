import * as tf from '@tensorflow/tfjs-core';

/** PEFT's placeholder in `adapter_names` for an input that runs the base model alone (`_mixed_batch_forward`). */
export const BASE_ADAPTER_NAME = '__base__';

/** The rows of one layer input that use one adapter (or the base, {@link BASE_ADAPTER_NAME}). */
export interface RowGroup {
  name: string;
  /** Their row numbers, int32 [rows of the group]. */
  index: tf.Tensor1D;
}

/**
 * How the rows of one layer input split by adapter name: `single` when every row has the same name
 * (no gather needed); otherwise one group per name (PEFT's `sub_batch_indices_list`; here in the order
 * the names first appear, PEFT's follows a `set` — each row gets one delta, so the order changes
 * nothing), and `inverse`, which puts the concatenated groups back in row order.
 */
export type RowPlan = { single: string } | { single: null; groups: RowGroup[]; inverse: tf.Tensor1D };

/**
 * The adapter names of one mixed batch (PEFT's `adapter_names`: one name per input example) and the
 * row plans derived from them, one per row count seen (the encoder's and the decoder's inputs, a beam
 * search's expanded rows…), kept on the device until {@link dispose}.
 *
 * A layer flattens its input [..., in] to N rows. Hosts keep an example's rows together (T5 runs its
 * linears on [B, S, d] reshaped to [B·S, d]; beam search and `num_return_sequences` repeat each
 * example's rows in place, transformers' `repeat_interleave`), so with B names, N must be a multiple
 * of B, and rows [i·N/B, (i+1)·N/B) belong to example i. That is PEFT's rule `len(x) == len(adapter_names)`
 * for a [B, S, d] input, and its `num_beams` expansion of the names (each repeated per beam, the
 * encoder keeping the original list) without being told the beam count.
 */
export class AdapterNamesBatch {
  readonly names: readonly string[];
  private readonly plans = new Map<number, RowPlan>();

  constructor(names: readonly string[]) {
    this.names = [...names];
  }

  /** The plan for an input of `rows` rows (x of shape `shape`) at layer `path`; an error if the rows do not split evenly. */
  plan(rows: number, shape: readonly number[], path: string): RowPlan {
    const b = this.names.length;
    if (rows % b !== 0) {
      throw new Error(
        `LoRA layer ${path}: ${b} adapter names for an input of ${rows} rows (x [${shape.join(', ')}]): the rows must split into ${b} equal groups of consecutive rows, one per name ` +
          '(PEFT: "Length of `adapter_names` should be the same as the number of inputs")',
      );
    }
    let plan = this.plans.get(rows);
    if (!plan) {
      plan = this.build(rows);
      this.plans.set(rows, plan);
    }
    return plan;
  }

  private build(rows: number): RowPlan {
    const per = rows / this.names.length;
    const unique = [...new Set(this.names)];
    if (unique.length === 1 || per === 0) return { single: this.names[0]! };
    const byName = new Map(unique.map((n) => [n, [] as number[]]));
    for (let r = 0; r < rows; r++) byName.get(this.names[Math.floor(r / per)]!)!.push(r);
    const order = unique.flatMap((n) => byName.get(n)!);
    const inverse = new Int32Array(rows);
    order.forEach((row, j) => {
      inverse[row] = j;
    });
    // Kept: a host calls its linears inside its own tf.tidy, which must not free the cached plans.
    const keep = (v: ArrayLike<number>) => tf.keep(tf.tensor1d(Int32Array.from(v), 'int32'));
    return { single: null, groups: unique.map((name) => ({ name, index: keep(byName.get(name)!) })), inverse: keep(inverse) };
  }

  /** Frees the cached row plans. */
  dispose(): void {
    for (const p of this.plans.values()) {
      if (p.single === null) tf.dispose([p.inverse, ...p.groups.map((g) => g.index)]);
    }
    this.plans.clear();
  }
}

/**
 * PEFT's checks of `adapter_names` before a mixed forward (`LoraModel._enable_peft_forward_hooks`):
 * a non-empty list of strings, each `"__base__"` or an adapter of the model (the error lists the others,
 * sorted, as PEFT's "Trying to infer with non-existing adapter(s)").
 */
export function checkAdapterNames(names: unknown, adapters: Iterable<string>): string[] {
  if (!Array.isArray(names) || names.length === 0 || names.some((n) => typeof n !== 'string')) {
    throw new Error(`LoRA: adapterNames must be a non-empty array of adapter names (one per input example, "${BASE_ADAPTER_NAME}" for the base model alone), got ${describe(names)}`);
  }
  const known = new Set(adapters);
  const unknown = [...new Set(names as string[])].filter((n) => n !== BASE_ADAPTER_NAME && !known.has(n)).sort();
  if (unknown.length) {
    throw new Error(`LoRA: trying to infer with non-existing adapter(s): ${unknown.map((n) => JSON.stringify(n)).join(', ')} (adapters: ${[...known].join(', ') || 'none'}; "${BASE_ADAPTER_NAME}" for the base model)`);
  }
  return [...(names as string[])];
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
