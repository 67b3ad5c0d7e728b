import '@tensorflow/tfjs-backend-cpu';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { planT5Memory } from '../src/index';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

describe('planT5Memory', () => {
  it('predicts Flan-UL2: 19.46 B parameters, 77.8 GB float32, 19.9 GB int8', () => {
    const plan = planT5Memory(fixture('flan-ul2-config.json'));
    // d_model 4096, 16 heads × d_kv 256 = 4096, d_ff 16384 gated, 32 + 32 layers, vocab 32128, tied
    // encoder layer: q,k,v,o 4·4096² = 67,108,864 + wi_0,wi_1,wo 3·16384·4096 = 201,326,592
    // decoder layer: 2·67,108,864 + 201,326,592 = 335,544,320
    expect(plan.quantizedParameters).toBe(32 * 268_435_456 + 32 * 335_544_320); // 19,327,352,832
    expect(plan.quantizedRows).toBe(32 * (4 * 4096 + 2 * 16384 + 4096) + 32 * (8 * 4096 + 2 * 16384 + 4096)); // 3,932,160
    // shared 32128·4096 + norms (2·32 + 3·32 + 2)·4096 + relative bias 2·32·16
    expect(plan.float32Parameters).toBe(131_596_288 + 663_552 + 1024);
    expect(plan.parameters).toBe(19_459_613_696);
    expect(plan.float32Bytes).toBe(77_838_454_784);
    expect(plan.int8Bytes).toBe(19_327_352_832 + 4 * 3_932_160 + 4 * 132_260_864); // 19,872,124,928
    expect(plan.int8Bytes / plan.float32Bytes).toBeLessThan(0.26);
  });

  it('counts exactly the tensors of the tiny UL2 checkpoint', () => {
    const header = fixture('ul2-tiny-safetensors-header.json') as Record<string, { shape: number[] }>;
    const size = (s: number[]) => s.reduce((a, d) => a * d, 1);
    const all = Object.values(header).reduce((a, t) => a + size(t.shape), 0);
    const linear = Object.entries(header).filter(([k]) => /\.(q|k|v|o|wi|wi_0|wi_1|wo)\.weight$/.test(k));
    const plan = planT5Memory(fixture('ul2-tiny-config.json'));
    expect(all).toBe(287_936);
    expect(plan.parameters).toBe(all);
    expect(plan.quantizedParameters).toBe(linear.reduce((a, [, t]) => a + size(t.shape), 0));
    expect(plan.quantizedRows).toBe(linear.reduce((a, [, t]) => a + (t.shape[0] as number), 0));
  });

  it('handles untied heads, non-gated FFNs and padded rows', () => {
    const base = { d_model: 6, d_kv: 2, num_heads: 3, d_ff: 10, num_layers: 1, vocab_size: 20, relative_attention_num_buckets: 4 };
    const relu = planT5Memory(base);
    // enc: 4 attention 6×6 + wi 10×6 + wo 6×10 = 264; dec: 8·36 + 120 = 408
    expect(relu.quantizedParameters).toBe(264 + 408);
    // rows of width 6 pad to 8 bytes; wo rows (width 10) pad to 12
    expect(relu.int8Bytes).toBe((4 * 6 * 8 + 10 * 8 + 6 * 12) + (8 * 6 * 8 + 10 * 8 + 6 * 12) + 4 * relu.quantizedRows + 4 * relu.float32Parameters);
    const untied = planT5Memory({ ...base, tie_word_embeddings: false });
    expect(untied.float32Parameters - relu.float32Parameters).toBe(120); // lm_head 20×6 stays float32
    expect(planT5Memory({ ...base, tie_word_embeddings: false }, { quantizeLmHead: true }).quantizedParameters).toBe(relu.quantizedParameters + 120);
    expect(planT5Memory({ ...base, feed_forward_proj: 'gated-gelu' }).quantizedParameters).toBe(relu.quantizedParameters + 2 * 60);
  });

  it('names a missing or bad config key', () => {
    expect(() => planT5Memory({ d_model: 4 })).toThrow('planT5Memory: config.num_heads must be a positive integer, got undefined');
    expect(() => planT5Memory({ d_model: 4, d_kv: 2, num_heads: 2, d_ff: 8, num_layers: 1, vocab_size: -3 })).toThrow(/config.vocab_size/);
  });
});

describe('planT5Memory reads config.json keys as transformers\' T5Config does', () => {
  const base = { d_model: 6, d_kv: 2, num_heads: 3, d_ff: 10, num_layers: 2, vocab_size: 20 };

  it('num_decoder_layers null (None) means num_layers', () => {
    expect(planT5Memory({ ...base, num_decoder_layers: null })).toEqual(planT5Memory(base));
    expect(planT5Memory({ ...base, num_decoder_layers: null }).quantizedParameters).toBe(planT5Memory({ ...base, num_decoder_layers: 2 }).quantizedParameters);
  });

  it('a feed_forward_proj that is not "{ACT}" or "gated-{ACT}" is an error naming it, not a non-gated count', () => {
    for (const bad of ['gelu-gated', 'gated-gelu-new', 'gated', 'gated-', '']) {
      expect(() => planT5Memory({ ...base, feed_forward_proj: bad }), bad).toThrow(`planT5Memory: config.feed_forward_proj ${JSON.stringify(bad)} is not a valid activation; use "gated-{ACT}" or "{ACT}"`);
    }
    expect(() => planT5Memory({ ...base, feed_forward_proj: 5 })).toThrow('planT5Memory: config.feed_forward_proj must be a string, got 5');
    expect(() => planT5Memory({ ...base, feed_forward_proj: null } as never)).toThrow('planT5Memory: config.feed_forward_proj must be a string, got null'); // parseT5Config refuses it too
    const relu = planT5Memory(base).quantizedParameters;
    expect(planT5Memory({ ...base, feed_forward_proj: 'gated-silu' }).quantizedParameters).toBe(relu + 4 * 60); // a second wi (10 × 6) in each of the 2 + 2 layers
    expect(planT5Memory({ ...base, feed_forward_proj: 'gelu_new' }).quantizedParameters).toBe(relu);
  });

  it('a tie_word_embeddings that is not a boolean is an error (the string "false" would count as tied)', () => {
    expect(() => planT5Memory({ ...base, tie_word_embeddings: 'false' })).toThrow('planT5Memory: config.tie_word_embeddings must be true or false, got "false"');
    expect(planT5Memory({ ...base, tie_word_embeddings: null }).float32Parameters).toBe(planT5Memory(base).float32Parameters);
  });
});
