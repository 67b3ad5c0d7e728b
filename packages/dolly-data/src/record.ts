/** One Dolly record, with the dataset's own field names. */
export interface DollyRecord {
  instruction: string;
  context: string;
  response: string;
  category: string;
}

/** The eight Dolly 15K categories, in the order of their published counts. */
export const DOLLY_CATEGORIES = [
  'open_qa',
  'general_qa',
  'classification',
  'closed_qa',
  'brainstorming',
  'information_extraction',
  'summarization',
  'creative_writing',
] as const;

/** The Dolly field names. */
export const DOLLY_FIELDS = ['instruction', 'context', 'response', 'category'] as const;

export type DollyField = (typeof DOLLY_FIELDS)[number];

/**
 * Where each Dolly field is read from in a jsonl object, for files with other key names.
 * Unlisted fields keep their own name. `category: null` means the files have no category:
 * every record gets `category: ''`. Alpaca's files (`instruction`, `input`, `output`, no
 * category) read with `{ context: 'input', response: 'output', category: null }`.
 */
export type FieldMap = Partial<Record<Exclude<DollyField, 'category'>, string>> & {
  /** The category key, or `null` for files without one (category `''`). */
  category?: string | null;
};
