// Faster Unigram tokenization for `@huggingface/tokenizers`, with the same output.

interface TrieNode {
  /** Piece id ending here, or -1. */
  id: number;
  children: Map<number, TrieNode> | null;
}

/** What is read from tokenizers.js' Unigram model (public fields in its build). */
export interface UnigramModelFields {
  vocab: string[];
  scores: number[];
  unk_score: number;
  unk_token_id: number;
  tokens_to_ids: Map<string, number>;
}

/**
 * A Viterbi for tokenizers.js' Unigram model that returns the same pieces as its
 * `TokenLattice` (same vocabulary and scores, `<unk>` score `min - 10`, a 1-character unknown
 * node where no 1-character piece matches, and the first of equal-scoring paths by begin
 * position). tokenizers.js builds node objects and generator strings per character; this
 * walks a code-point trie into two typed arrays.
 */
export class UnigramViterbi {
  private readonly root: TrieNode = { id: -1, children: null };
  private readonly scores: Float64Array;

  constructor(model: UnigramModelFields) {
    this.scores = Float64Array.from(model.scores);
    this.unkScore = model.unk_score;
    model.vocab.forEach((piece, id) => {
      let node = this.root;
      for (const ch of piece) {
        const cp = ch.codePointAt(0)!;
        node.children ??= new Map();
        let next = node.children.get(cp);
        if (!next) node.children.set(cp, (next = { id: -1, children: null }));
        node = next;
      }
      // tokenizers.js maps a piece to its last id (a Map built in vocab order).
      node.id = id;
    });
  }

  private readonly unkScore: number;

  /** The pieces of one pre-tokenized word (as tokenizers.js' `Unigram.tokenize`). */
  tokenize(word: string): string[] {
    const cps: number[] = [];
    const offsets: number[] = [];
    for (let i = 0; i < word.length; ) {
      const cp = word.codePointAt(i)!;
      offsets.push(i);
      cps.push(cp);
      i += cp > 0xffff ? 2 : 1;
    }
    const n = cps.length;
    offsets.push(word.length);
    if (n === 0) return [];
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    best[0] = 0;
    for (let b = 0; b < n; b++) {
      const base = best[b]!;
      let node: TrieNode | undefined = this.root;
      let single = false;
      for (let e = b; e < n && node?.children; e++) {
        node = node.children.get(cps[e]!);
        if (!node) break;
        if (node.id >= 0) {
          if (e === b) single = true;
          const score = base + this.scores[node.id]!;
          if (from[e + 1] === -1 || score > best[e + 1]!) {
            best[e + 1] = score;
            from[e + 1] = b;
          }
        }
      }
      if (!single) {
        const score = base + this.unkScore;
        if (from[b + 1] === -1 || score > best[b + 1]!) {
          best[b + 1] = score;
          from[b + 1] = b;
        }
      }
    }
    const pieces: string[] = [];
    for (let e = n; e > 0; e = from[e]!) pieces.push(word.slice(offsets[from[e]!]!, offsets[e]!));
    return pieces.reverse();
  }
}

/** The parts of tokenizers.js' Unigram model and Metaspace pre-tokenizer that are replaced or read. */
type UnigramModel = Partial<UnigramModelFields> & {
  tokenize?: (normalized: string) => string[];
  fuse_unk?: boolean;
  config?: { type?: string };
};

const accelerated = new WeakSet<object>();

/**
 * tokenizers.js' `fuse_unk`, for the pieces of one word: consecutive unknown pieces are joined
 * into one (which then maps to `<unk>`), quirks included.
 */
function fuseUnknown(pieces: string[], ids: Map<string, number>, unk: number): string[] {
  const fused: string[] = [];
  let i = 0;
  while (i < pieces.length) {
    fused.push(pieces[i]!);
    if ((ids.get(pieces[i]!) ?? unk) !== unk) {
      ++i;
      continue;
    }
    while (++i < pieces.length && (ids.get(pieces[i]!) ?? unk) === unk) {
      if (ids.get(fused[fused.length - 1]!) !== unk) fused[fused.length - 1] += pieces[i]!;
    }
  }
  return fused;
}

/**
 * Speeds up a Unigram (SentencePiece) tokenizer of `@huggingface/tokenizers` in place.
 * tokenizers.js runs its lattice over the whole pre-tokenized text, while the Rust Metaspace
 * pre-tokenizer (`split: true`) splits it into words that start at each `▁`. This runs
 * {@link UnigramViterbi} per word and memoizes words (at most `maxEntries`, then the cache
 * starts over). No T5 piece holds an inner `▁`, so whole-text and per-word Viterbi agree.
 * When every pre-tokenized section starts with `▁` (Metaspace, `prepend_scheme: "always"`),
 * no unknown piece can touch another word's, so unknowns are fused per word (cached too)
 * instead of over the whole text. Does nothing for other models or `maxEntries <= 0`.
 */
export function accelerateUnigram(tokenizer: { model: unknown; pre_tokenizer: unknown }, maxEntries: number): void {
  const model = tokenizer.model as UnigramModel | null;
  if (maxEntries <= 0 || !model || model.config?.type !== 'Unigram' || typeof model.tokenize !== 'function') return;
  if (accelerated.has(model)) return;
  accelerated.add(model);
  const { vocab, scores, unk_score, unk_token_id, tokens_to_ids } = model;
  const viterbi =
    Array.isArray(vocab) && Array.isArray(scores) && typeof unk_score === 'number'
      ? new UnigramViterbi({ vocab, scores, unk_score, unk_token_id: unk_token_id ?? -1, tokens_to_ids: tokens_to_ids ?? new Map() })
      : null;
  const tokenizeWord = viterbi ? (w: string) => viterbi.tokenize(w) : model.tokenize.bind(model);
  const pre = tokenizer.pre_tokenizer as { replacement?: string; prepend_scheme?: string } | null;
  const fusePerWord =
    model.fuse_unk === true && tokens_to_ids instanceof Map && typeof unk_token_id === 'number' && pre?.replacement === '\u2581' && pre.prepend_scheme === 'always';
  if (fusePerWord) model.fuse_unk = false;
  const cache = new Map<string, string[]>();
  model.tokenize = (normalized: string): string[] => {
    const out: string[] = [];
    let start = 0;
    while (start < normalized.length) {
      let end = normalized.indexOf('\u2581', start + 1);
      if (end === -1) end = normalized.length;
      const word = normalized.slice(start, end);
      let pieces = cache.get(word);
      if (pieces === undefined) {
        pieces = tokenizeWord(word);
        if (fusePerWord) pieces = fuseUnknown(pieces, tokens_to_ids!, unk_token_id!);
        if (cache.size >= maxEntries) cache.clear();
        cache.set(word, pieces);
      }
      for (let k = 0; k < pieces.length; k++) out.push(pieces[k]!);
      start = end;
    }
    return out;
  };
}
