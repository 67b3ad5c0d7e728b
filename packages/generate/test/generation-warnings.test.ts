/**
 * `generationOptionsWarnings` against transformers 5's `GenerationConfig.validate()`
 * (src/transformers/generation/configuration_utils.py): 2.1 "detect sampling-only parameterization when not in sampling
 * mode" (`if self.do_sample is not True:` temperature ≠ 1.0, top_p ≠ 1.0, min_p is not None, typical_p ≠ 1.0,
 * top_k ≠ 50, epsilon_cutoff ≠ 0.0, eta_cutoff ≠ 0.0, in that order) and 2.2 "detect beam-only parameterization when
 * not in beam mode" (`if self.num_beams is None or self.num_beams == 1:` early_stopping not None / False,
 * length_penalty ≠ 1.0). What validate() raises for, `generate` refuses (checked at the end).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { generationOptionsWarnings, GenerationOptionsError, resolveOptions, type GenerateOptions } from '../src/index.js';

const sample = (flag: string, value: string) =>
  `\`doSample\` is not set to \`true\`. However, \`${flag}\` is set to \`${value}\` -- this flag is only used in sample-based generation modes. You should set \`doSample: true\` or unset \`${flag}\`.`;
const beam = (flag: string, value: string) =>
  `\`numBeams\` is set to 1. However, \`${flag}\` is set to \`${value}\` -- this flag is only used in beam-based generation modes. You should set \`numBeams > 1\` or unset \`${flag}\`.`;

describe('generationOptionsWarnings: transformers 5 GenerationConfig.validate() minor issues', () => {
  afterEach(() => vi.restoreAllMocks());

  it.each<[string, GenerateOptions, string[]]>([
    ['nothing set', {}, []],
    ['the neutral values (transformers compares with them)', { temperature: 1, topP: 1, typicalP: 1, topK: 50, epsilonCutoff: 0, etaCutoff: 0, earlyStopping: false, lengthPenalty: 1 }, []],
    ['temperature while greedy', { temperature: 0.7 }, [sample('temperature', '0.7')]],
    ['temperature 0 while greedy (accepted by generate, warned by transformers)', { temperature: 0, doSample: false }, [sample('temperature', '0')]],
    ['every sampling flag, in transformers’ order', { etaCutoff: 0.001, epsilonCutoff: 0.0003, topK: 10, typicalP: 0.9, minP: 0.1, topP: 0.8, temperature: 0.5 },
      [sample('temperature', '0.5'), sample('topP', '0.8'), sample('minP', '0.1'), sample('typicalP', '0.9'), sample('topK', '10'), sample('epsilonCutoff', '0.0003'), sample('etaCutoff', '0.001')]],
    ['minP 0 still warns (`if self.min_p is not None`)', { minP: 0 }, [sample('minP', '0')]],
    ['topK 0 warns (≠ 50)', { topK: 0 }, [sample('topK', '0')]],
    ['the same while sampling: nothing', { doSample: true, temperature: 0.5, topP: 0.8, minP: 0.1, typicalP: 0.9, topK: 10, epsilonCutoff: 0.0003, etaCutoff: 0.001 }, []],
    ['sampling flags with beam search but no sampling', { numBeams: 4, temperature: 0.5 }, [sample('temperature', '0.5')]],
    ['lengthPenalty with one beam', { lengthPenalty: 0.6 }, [beam('lengthPenalty', '0.6')]],
    ['earlyStopping true / "never" with one beam', { earlyStopping: true, numBeams: 1 }, [beam('earlyStopping', 'true')]],
    ['earlyStopping "never"', { earlyStopping: 'never', doSample: true }, [beam('earlyStopping', 'never')]],
    ['beam flags with beams: nothing', { numBeams: 2, lengthPenalty: 0.6, earlyStopping: true }, []],
    ['both kinds, sampling first', { lengthPenalty: 2, topP: 0.9 }, [sample('topP', '0.9'), beam('lengthPenalty', '2')]],
  ])('%s', (_what, options, expected) => {
    expect(generationOptionsWarnings(options)).toEqual(expected);
  });

  it("with a model: its generation config under the options, as generate merges them (a checkpoint's temperature without do_sample warns)", () => {
    const model = { generationConfig: { decoder_start_token_id: 0, eos_token_id: 1, temperature: 0.6, length_penalty: 0.8 } };
    expect(generationOptionsWarnings({}, model)).toEqual([sample('temperature', '0.6'), beam('lengthPenalty', '0.8')]);
    expect(generationOptionsWarnings({ doSample: true, numBeams: 2 }, model)).toEqual([]);
    expect(generationOptionsWarnings({ temperature: 1 }, model)).toEqual([beam('lengthPenalty', '0.8')]);
    // without a generationConfig: config.json's keys (T5: token ids only)
    expect(generationOptionsWarnings({}, { config: { decoder_start_token_id: 0, eos_token_id: 1, pad_token_id: 0 } })).toEqual([]);
    expect(generationOptionsWarnings({ temperature: 0.6 })).toEqual([sample('temperature', '0.6')]);
  });

  it('prints nothing (the caller shows them)', () => {
    const spies = [vi.spyOn(console, 'warn'), vi.spyOn(console, 'log'), vi.spyOn(console, 'error'), vi.spyOn(process.stderr, 'write')];
    expect(generationOptionsWarnings({ temperature: 0.5, lengthPenalty: 2 })).toHaveLength(2);
    for (const s of spies) expect(s).not.toHaveBeenCalled();
  });

  it('what validate() raises for instead of warning, generate refuses (one GenerationOptionsError)', () => {
    const refused: Array<[GenerateOptions, RegExp]> = [
      [{ earlyStopping: 'sometimes' as unknown as boolean }, /`earlyStopping` must be true, false or "never"/], // `early_stopping` must be a boolean or 'never'
      [{ maxNewTokens: 0 }, /`maxNewTokens` must be an integer ≥ 1/], // `max_new_tokens` must be greater than 0
      [{ numReturnSequences: 2 }, /greedy decoding .* returns one sequence per input/], // Greedy methods (do_sample != True) without beam search do not support `num_return_sequences` …
      [{ numBeams: 2, numReturnSequences: 3 }, /`numReturnSequences` \(3\) has to be smaller or equal to `numBeams` \(2\)/],
    ];
    for (const [options, message] of refused) {
      expect(() => resolveOptions({ decoderStartTokenId: 0, ...options })).toThrow(GenerationOptionsError);
      expect(() => resolveOptions({ decoderStartTokenId: 0, ...options })).toThrow(message);
    }
  });
});
