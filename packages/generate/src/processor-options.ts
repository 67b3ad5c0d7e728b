import { sequenceBiasEntries, type SequenceBiasEntry } from './sequence-bias.js';

/** The resolved options of the encoder, sequence-bias, length-decay and renormalization processors. */
export interface BiasAndEncoderOptions {
  /** 1 = off. */
  encoderRepetitionPenalty: number;
  /** 0 = off. */
  encoderNoRepeatNgramSize: number;
  /** De-duplicated as transformers' dict (a repeated sequence: first position, last bias); empty = off. */
  sequenceBias: Array<[number[], number]>;
  exponentialDecayLengthPenalty: [number, number] | undefined;
  renormalizeLogits: boolean;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/**
 * Reads and checks those options from `o`, pushing one message per problem to `p` (the caller throws them
 * together). The rules are the processors' constructors' and `_get_logits_processor`'s conditions:
 * - `EncoderRepetitionPenaltyLogitsProcessor`: `penalty > 0` (built unless None or 1.0);
 * - `EncoderNoRepeatNGramLogitsProcessor`: an integer, built when > 0;
 * - `SequenceBiasLogitsProcessor._validate_arguments`, list form (the one a generation_config.json can hold):
 *   a non-empty list of `[ids, bias]` with `ids` a list of integers > 0 (transformers' list check is strict:
 *   token 0 is refused) and `bias` a float; an empty `ids` fails in transformers at the first step;
 * - `ExponentialDecayLengthPenalty`: `(start_index, decay_factor)`; it needs EOS ids (checked by the caller);
 * - `renormalize_logits`: a boolean (`is True`).
 */
export function resolveBiasAndEncoderOptions(o: Record<string, unknown>, p: string[]): BiasAndEncoderOptions {
  const erp = o.encoderRepetitionPenalty;
  if (erp !== undefined && !(isNum(erp) && erp > 0)) p.push(`\`encoderRepetitionPenalty\` must be a number > 0 (got ${String(erp)})`);
  const enr = o.encoderNoRepeatNgramSize;
  if (enr !== undefined && !(isInt(enr) && enr >= 0)) p.push(`\`encoderNoRepeatNgramSize\` must be an integer ≥ 0 (got ${String(enr)})`);

  let sequenceBias: Array<[number[], number]> = [];
  const sb = o.sequenceBias;
  if (sb !== undefined) {
    const pairOk = (e: unknown): e is SequenceBiasEntry =>
      Array.isArray(e) && e.length === 2 && Array.isArray(e[0]) && e[0].length > 0 &&
      (e[0] as unknown[]).every((t) => isInt(t) && t > 0) && typeof e[1] === 'number' && !Number.isNaN(e[1]);
    if (!Array.isArray(sb) || sb.length === 0 || !sb.every(pairOk)) {
      p.push(`\`sequenceBias\` must be a non-empty list of [token ids, bias] pairs, the ids a non-empty list of integers > 0 and the bias a number (got ${JSON.stringify(sb)})`);
    } else sequenceBias = sequenceBiasEntries(sb);
  }

  let exponentialDecayLengthPenalty: [number, number] | undefined;
  const ed = o.exponentialDecayLengthPenalty;
  if (ed !== undefined) {
    if (!Array.isArray(ed) || ed.length !== 2 || !isInt(ed[0]) || !isNum(ed[1])) {
      p.push(`\`exponentialDecayLengthPenalty\` must be [startIndex, decayFactor]: an integer and a finite number (got ${JSON.stringify(ed)})`);
    } else exponentialDecayLengthPenalty = [ed[0], ed[1]];
  }

  const rl = o.renormalizeLogits;
  if (rl !== undefined && typeof rl !== 'boolean') p.push(`\`renormalizeLogits\` must be a boolean (got ${String(rl)})`);

  return {
    encoderRepetitionPenalty: isNum(erp) && erp > 0 ? erp : 1,
    encoderNoRepeatNgramSize: isInt(enr) && enr > 0 ? enr : 0,
    sequenceBias,
    exponentialDecayLengthPenalty,
    renormalizeLogits: rl === true,
  };
}
