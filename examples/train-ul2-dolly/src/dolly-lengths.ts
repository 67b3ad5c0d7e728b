/**
 * Dolly 15K token lengths with the T5 tokenizer (`</s>` included), as 100 quantiles (the value at
 * (i + 0.5) %), from ../shared/golden/cases/dolly-token-lengths.json (15,011 records; prompt mean
 * 102.3, p50 18, p99 931; response mean 85.2, p50 48, p99 600). Enough for the time estimate:
 * mean(min(length, 512)) from these is 87.18 / 80.50 against 87.08 / 80.33 from all records.
 */
export const DOLLY_PROMPT_QUANTILES: readonly number[] = [5,6,6,7,7,7,8,8,8,8,8,9,9,9,9,9,10,10,10,10,10,11,11,11,11,11,12,12,12,12,12,13,13,13,13,13,14,14,14,15,15,15,15,16,16,16,17,17,18,18,18,19,19,20,21,21,22,24,25,27,29,31,33,36,38,42,46,50,56,64,73,82,93,102,113,122,130,140,149,157,167,175,184,194,206,218,229,242,255,273,288,311,337,364,402,450,513,596,745,1343];

export const DOLLY_RESPONSE_QUANTILES: readonly number[] = [2,3,4,4,5,6,7,8,9,10,11,12,13,13,14,14,15,16,16,17,18,19,19,20,21,22,23,24,24,25,26,27,28,29,29,31,32,33,33,34,35,37,38,39,40,41,43,44,46,47,49,50,52,53,55,57,58,60,62,64,65,67,70,72,74,76,79,81,83,86,88,91,93,97,99,102,105,108,112,116,120,124,129,135,140,147,153,161,170,179,192,202,216,235,261,292,331,394,507,816];

/** Records in Dolly 15K. */
export const DOLLY_RECORDS = 15011;

/** Mean of min(x, cap) over the quantiles: the real (unpadded) tokens of a truncated example. */
export function meanTruncated(quantiles: readonly number[], cap: number): number {
  let s = 0;
  for (const x of quantiles) s += Math.min(x, cap);
  return s / quantiles.length;
}

/**
 * Expected padded length of a batch of `batch` random examples (the longest one, truncated):
 * E[max] = Σ q_i · (((i + 1) / n)^B − (i / n)^B) over the n sorted quantiles.
 */
export function meanPaddedLength(quantiles: readonly number[], cap: number, batch: number): number {
  const n = quantiles.length;
  let s = 0;
  quantiles.forEach((x, i) => {
    s += Math.min(x, cap) * (((i + 1) / n) ** batch - (i / n) ** batch);
  });
  return s;
}
