import { logSoftmax } from './float32.js';
import { GenerationOptionsError } from './options.js';
import type { GenerateOutput } from './types.js';
import { type KnownOptions, notAnOptionsObject, unknownOptionProblems, unknownOptionsText } from './unknown-options.js';

const TRANSITION_SCORES_OPTIONS: KnownOptions<{ normalizeLogits?: boolean }> = { normalizeLogits: true };

/** One GenerationOptionsError for `options` not an object, its unknown keys and a `normalizeLogits` that is not a boolean. */
function checkTransitionScoresOptions(options: unknown): void {
  const wrong = notAnOptionsObject(options);
  if (wrong !== undefined) throw new GenerationOptionsError([`computeTransitionScores: options must be an object, got ${wrong}`]);
  const o = (options ?? {}) as Record<string, unknown>;
  const unknown = unknownOptionProblems(o, TRANSITION_SCORES_OPTIONS);
  const problems = unknown.length > 0 ? [`computeTransitionScores: ${unknownOptionsText(unknown)}`] : [];
  const n = o['normalizeLogits'];
  if (n !== undefined && typeof n !== 'boolean') problems.push(`\`normalizeLogits\` must be a boolean (got ${String(n)})`);
  if (problems.length > 0) throw new GenerationOptionsError(problems);
}

/**
 * transformers' `GenerationMixin.compute_transition_scores(sequences, scores, beam_indices, normalize_logits)`: per
 * returned sequence and generated position, the score its token had in the step's processed scores (`outputScores`).
 * Row i, position t is `scores[t][beamIndices[i][t]][token]` with the token `sequences[i][cut + t]`, where the
 * positions are cut to the longest beam (`max_beam_length`: the most non-negative beam indices of a row) and
 * `cut = sequence length − max_beam_length`; positions whose beam index is -1 (past a beam's end) are 0. Without
 * `beamIndices` (greedy, sampling, assisted: "the first (and only) beam is always selected") row i reads row i of
 * every step. `normalizeLogits` log-softmaxes every score row first (float32, as PyTorch's CPU kernel).
 *
 * Greedy: `scores` are the processed logits (with `normalizeLogits`, log-probabilities of the processed
 * distribution). Beam search: the processed log-probabilities, so a row's sum, divided by its generated length
 * `** lengthPenalty`, is its `sequencesScores` entry (up to float32 rounding of the sum).
 *
 * @throws when `output` has no `scores` (generate with `outputScores: true`), or its shapes do not fit together; a
 * GenerationOptionsError for `options` that are not an object, an unknown key or a `normalizeLogits` that is not a boolean.
 */
export function computeTransitionScores(
  output: Pick<GenerateOutput, 'sequences' | 'scores' | 'beamIndices'>,
  options: { normalizeLogits?: boolean } = {},
): Float32Array[] {
  checkTransitionScoresOptions(options);
  const { sequences, scores } = output;
  if (!scores) throw new Error('computeTransitionScores needs the output of generate with `outputScores: true`');
  const steps = scores.length;
  // 1. `beam_indices = arange(scores[0].shape[0]).view(-1, 1).expand(-1, len(scores))` when there are none.
  const beamIndices = output.beamIndices ?? sequences.map((_, i) => new Array<number>(steps).fill(i));
  if (beamIndices.length !== sequences.length) {
    throw new Error(`computeTransitionScores: ${beamIndices.length} rows of beam indices for ${sequences.length} sequences`);
  }
  // 3. `normalize_logits`: log_softmax over the vocabulary, per step and row (computed on first use).
  const normalized = new Map<string, Float32Array>();
  const rowAt = (t: number, r: number): Float32Array => {
    const row = scores[t]?.[r];
    if (row === undefined) throw new Error(`computeTransitionScores: no score row ${r} at step ${t} (${scores[t]?.length ?? 0} rows)`);
    if (options.normalizeLogits !== true) return row;
    const key = `${t},${r}`;
    let n = normalized.get(key);
    if (n === undefined) normalized.set(key, (n = logSoftmax(row)));
    return n;
  };
  // 4. `max_beam_length = (1 - beam_indices_mask.long()).sum(-1).max()`.
  const maxBeamLength = Math.max(0, ...beamIndices.map((row) => row.filter((b) => b >= 0).length));
  return sequences.map((seq, i) => {
    const cut = seq.length - maxBeamLength; // 7. `cut_idx = sequences.shape[-1] - max_beam_length`
    if (cut < 0) throw new Error(`computeTransitionScores: sequence ${i} is shorter (${seq.length}) than its ${maxBeamLength} scored positions`);
    const out = new Float32Array(maxBeamLength);
    for (let t = 0; t < maxBeamLength; t++) {
      const b = (beamIndices[i] as number[])[t];
      // 5./9. a beam index < 0 (or missing) gives 0.
      if (b === undefined || b < 0) continue;
      if (t >= steps) throw new Error(`computeTransitionScores: beam indices reach position ${t}, but there are ${steps} steps of scores`);
      const token = seq[cut + t] as number;
      const row = rowAt(t, b);
      if (!(Number.isInteger(token) && token >= 0 && token < row.length)) {
        throw new Error(`computeTransitionScores: token ${token} of sequence ${i} at position ${cut + t} is not in the vocabulary (${row.length})`);
      }
      out[t] = row[token] as number; // 8. `scores.gather(0, sequences[:, cut_idx:] + beam_indices * vocab_size)`
    }
    return out;
  });
}
