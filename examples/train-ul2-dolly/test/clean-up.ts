/** transformers' `clean_up_tokenization` (src/transformers/tokenization_utils_base.py): ten `str.replace` calls, in order. */
export const cleanUp = (s: string): string =>
  [' .', ' ?', ' !', ' ,', " ' ", " n't", " 'm", " 's", " 've", " 're"].reduce((t, p) => t.split(p).join(p.slice(1).replace(/ $/, '')), s);
