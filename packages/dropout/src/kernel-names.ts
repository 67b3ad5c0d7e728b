/** `y = x · mask`, mask[i] = `scale` if `bits24(key, i) ≥ thr` else 0 (flat index i of x). Its gradient is the same op on dy. */
export const Dropout = 'ConiferDropout';

export interface DropoutAttrs {
  /** keyOf(seed), u32. */
  key: number;
  /** threshold(rate), in [0, 2²⁴]. */
  thr: number;
  /** 1 / (1 − rate) as float32. */
  scale: number;
}
