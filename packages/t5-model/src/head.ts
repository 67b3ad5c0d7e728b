import * as tf from '@tensorflow/tfjs-core';

/** `shared`: the token embedding, weight [vocab, d_model] as in the checkpoint. Frozen. */
export class T5Embedding {
  constructor(public weight: tf.Tensor2D) {}

  /** ids int32 [B, S] → [B, S, d_model]. The weight is frozen, so no gather gradient is ever needed. */
  forward(ids: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, s] = ids.shape;
      const rows = tf.gather(this.weight, tf.reshape(tf.cast(ids, 'int32'), [b * s])); // (B*S, d)
      return tf.reshape(rows, [b, s, this.weight.shape[1]]);
    });
  }

  dispose(): void {
    this.weight.dispose();
  }
}

/**
 * `lm_head`: logits = h · Wᵀ with W [vocab, d_model] (`lm_head.weight`, else `shared.weight`).
 * Frozen; held as `weightT` [d_model, vocab] so the forward is a plain matMul; the backward
 * (gradient wrt h only) is `dy · W`, plain too, with W = the shared embedding when tied, else a
 * transposed copy made on the first backward.
 */
export class T5LMHead {
  private gradWeight: tf.Tensor2D | null;
  private readonly applyFn: (h: tf.Tensor2D) => tf.Tensor2D;

  constructor(
    /** [d_model, vocab]. */
    public weightT: tf.Tensor2D,
    /** [vocab, d_model] when it exists already (the tied embedding); not owned. */
    private readonly sharedWeight: tf.Tensor2D | null,
  ) {
    this.gradWeight = null;
    this.applyFn = tf.customGrad(((h: tf.Tensor2D, save: tf.GradSaveFunc) => {
      save([]);
      return { value: tf.matMul(h, this.weightT), gradFunc: (dy: tf.Tensor2D) => tf.matMul(dy, this.weightForGrad()) };
    }) as unknown as Parameters<typeof tf.customGrad>[0]) as (h: tf.Tensor2D) => tf.Tensor2D;
  }

  get tied(): boolean {
    return this.sharedWeight !== null;
  }

  /** h [B, T, d] → logits [B, T, vocab]. */
  forward(h: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, t, d] = h.shape;
      const logits = this.applyFn(tf.reshape(h, [b * t, d])); // (B*T, V)
      return tf.reshape(logits, [b, t, this.weightT.shape[1]]);
    });
  }

  private weightForGrad(): tf.Tensor2D {
    if (this.sharedWeight) return this.sharedWeight;
    if (this.gradWeight === null || this.gradWeight.isDisposed) this.gradWeight = tf.keep(tf.transpose(this.weightT));
    return this.gradWeight;
  }

  dispose(): void {
    this.weightT.dispose();
    this.gradWeight?.dispose();
    this.gradWeight = null;
  }
}
