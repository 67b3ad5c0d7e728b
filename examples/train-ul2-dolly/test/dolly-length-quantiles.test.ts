// The plan's Dolly token lengths per --prompt-template (src/dolly-length-quantiles.ts, written by
// scripts/dolly-lengths.ts) against the same computation on the data and tokenizer @conifer/dolly-data ships:
// a change to the templates, the tokenizer, the encoding or the data that moves them fails here.
import { bundledDollyPath, loadDolly, loadT5Tokenizer } from '@conifer/dolly-data';
import { describe, expect, it } from 'vitest';
import { DOLLY_LENGTH_QUANTILES } from '../src/dolly-length-quantiles.js';
import { dollyLengthQuantiles, dollyTokenLengths, lengthQuantiles } from '../src/dolly-length-stats.js';
import { DOLLY_PROMPT_QUANTILES, DOLLY_RECORDS, DOLLY_RESPONSE_QUANTILES, dollyQuantiles } from '../src/dolly-lengths.js';
import { PROMPT_TEMPLATES } from '../src/options.js';

describe('lengthQuantiles', () => {
  it('the sorted value at rank ⌊(i + 0.5)·N / n⌋', () => {
    // N = 10, n = 4: ranks ⌊1.25⌋ = 1, ⌊3.75⌋ = 3, ⌊6.25⌋ = 6, ⌊8.75⌋ = 8 of 0…9 (given shuffled)
    expect(lengthQuantiles([9, 3, 0, 7, 1, 8, 2, 6, 4, 5], 4)).toEqual([1, 3, 6, 8]);
    // N = 3, n = 100: rank ⌊(i + 0.5)·3/100⌋ is 0 for i ≤ 32, 1 for 33 ≤ i ≤ 66 (66.5·3 = 199.5), 2 from 67
    const q = lengthQuantiles([30, 10, 20]);
    expect([q[0], q[32], q[33], q[66], q[67], q[99]]).toEqual([10, 10, 20, 20, 30, 30]);
    expect(() => lengthQuantiles([])).toThrow(/no lengths/);
  });
});

describe('the committed quantiles', () => {
  it('are what the script computes from the shipped Dolly 15K and T5 tokenizer, for every template', async () => {
    const { records } = await loadDolly(bundledDollyPath());
    expect(records).toHaveLength(DOLLY_RECORDS);
    const tokenizer = await loadT5Tokenizer();
    const computed = dollyLengthQuantiles(records, tokenizer);
    expect(Object.keys(computed)).toEqual([...PROMPT_TEMPLATES]);
    expect(computed).toEqual(DOLLY_LENGTH_QUANTILES);
  }, 120_000);

  it('a template’s fixed text adds a fixed number of tokens to a record (so the quantiles shift, not reshape)', async () => {
    const { records } = await loadDolly(bundledDollyPath());
    const tokenizer = await loadT5Tokenizer();
    // one record with a context and one without, per template (the templates' two source forms)
    const two = [records.find((r) => r.context === '')!, records.find((r) => r.context !== '')!];
    const [o, d, a] = PROMPT_TEMPLATES.map((t) => dollyTokenLengths(two, tokenizer, t));
    for (const i of [0, 1]) {
      expect(d!.prompt[i]! - o!.prompt[i]!).toBeGreaterThanOrEqual(25);
      expect(d!.prompt[i]! - o!.prompt[i]!).toBeLessThanOrEqual(40);
      expect(a!.prompt[i]! - o!.prompt[i]!).toBeGreaterThanOrEqual(25);
      expect(d!.response[i]! - o!.response[i]!).toBe(3); // "\n\n### End": ▁#, ##, ▁End (the newlines fold into the spaces)
      expect(a!.response[i]).toBe(o!.response[i]); // the bare response
    }
  });

  it('dollyQuantiles: each template’s 100, ascending; original is the plan’s old table', () => {
    for (const t of PROMPT_TEMPLATES) {
      for (const side of [dollyQuantiles(t).prompt, dollyQuantiles(t).response]) {
        expect(side).toHaveLength(100);
        expect([...side].sort((x, y) => x - y)).toEqual(side);
      }
    }
    expect(dollyQuantiles()).toBe(DOLLY_LENGTH_QUANTILES.original);
    expect(DOLLY_PROMPT_QUANTILES).toBe(DOLLY_LENGTH_QUANTILES.original.prompt);
    expect(DOLLY_RESPONSE_QUANTILES).toBe(DOLLY_LENGTH_QUANTILES.original.response);
    // the table the plan used before templates were counted (from ../shared/golden/cases/dolly-token-lengths.json,
    // Hugging Face's Rust tokenizers): the original format's --dry-run is unchanged
    expect(DOLLY_PROMPT_QUANTILES).toEqual([5,6,6,7,7,7,8,8,8,8,8,9,9,9,9,9,10,10,10,10,10,11,11,11,11,11,12,12,12,12,12,13,13,13,13,13,14,14,14,15,15,15,15,16,16,16,17,17,18,18,18,19,19,20,21,21,22,24,25,27,29,31,33,36,38,42,46,50,56,64,73,82,93,102,113,122,130,140,149,157,167,175,184,194,206,218,229,242,255,273,288,311,337,364,402,450,513,596,745,1343]);
    expect(DOLLY_RESPONSE_QUANTILES).toEqual([2,3,4,4,5,6,7,8,9,10,11,12,13,13,14,14,15,16,16,17,18,19,19,20,21,22,23,24,24,25,26,27,28,29,29,31,32,33,33,34,35,37,38,39,40,41,43,44,46,47,49,50,52,53,55,57,58,60,62,64,65,67,70,72,74,76,79,81,83,86,88,91,93,97,99,102,105,108,112,116,120,124,129,135,140,147,153,161,170,179,192,202,216,235,261,292,331,394,507,816]);
  });
});
