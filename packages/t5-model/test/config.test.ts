import { describe, expect, it } from 'vitest';
import { parseT5Config, t5ConfigToJSON, T5ConfigError } from '../src/index.js';

describe('T5Config', () => {
  it("applies transformers' defaults", () => {
    const c = parseT5Config({});
    expect(c).toMatchObject({
      vocab_size: 32128, d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_decoder_layers: 6, num_heads: 8,
      relative_attention_num_buckets: 32, relative_attention_max_distance: 128, dropout_rate: 0.1,
      layer_norm_epsilon: 1e-6, initializer_factor: 1, feed_forward_proj: 'relu', dense_act_fn: 'relu', is_gated_act: false,
      tie_word_embeddings: true, scale_decoder_outputs: true, pad_token_id: 0, eos_token_id: 1, decoder_start_token_id: 0, dtype: null,
    });
    expect(parseT5Config({ num_layers: 4 }).num_decoder_layers).toBe(4);
    expect(parseT5Config({ num_layers: 4, num_decoder_layers: null }).num_decoder_layers).toBe(4);
  });

  it('derives the activation from feed_forward_proj', () => {
    expect(parseT5Config({ feed_forward_proj: 'gated-gelu' })).toMatchObject({ dense_act_fn: 'gelu_new', is_gated_act: true });
    expect(parseT5Config({ feed_forward_proj: 'gated-silu' })).toMatchObject({ dense_act_fn: 'silu', is_gated_act: true });
    expect(parseT5Config({ feed_forward_proj: 'gelu' })).toMatchObject({ dense_act_fn: 'gelu', is_gated_act: false });
  });

  it('scale_decoder_outputs: explicit (5.x) or tie_word_embeddings (4.x files)', () => {
    expect(parseT5Config({ tie_word_embeddings: false }).scale_decoder_outputs).toBe(false);
    expect(parseT5Config({ tie_word_embeddings: true }).scale_decoder_outputs).toBe(true);
    expect(parseT5Config({ tie_word_embeddings: true, scale_decoder_outputs: false }).scale_decoder_outputs).toBe(false);
    expect(parseT5Config({ tie_word_embeddings: false, scale_decoder_outputs: true }).scale_decoder_outputs).toBe(true);
  });

  it('reads dtype (5.x) and torch_dtype (4.x)', () => {
    expect(parseT5Config({ dtype: 'bfloat16' }).dtype).toBe('bfloat16');
    expect(parseT5Config({ torch_dtype: 'float16' }).dtype).toBe('float16');
    expect(parseT5Config({ dtype: 'float32', torch_dtype: 'bfloat16' }).dtype).toBe('float32');
    expect(() => parseT5Config({ torch_dtype: 'int4' })).toThrow(/"torch_dtype"/);
  });

  it('keeps unknown keys and writes them back', () => {
    const c = parseT5Config({ model_type: 't5', architectures: ['T5ForConditionalGeneration'], task_specific_params: { x: 1 }, d_model: 64 });
    expect(c.extra).toEqual({ model_type: 't5', architectures: ['T5ForConditionalGeneration'], task_specific_params: { x: 1 } });
    const json = t5ConfigToJSON(c);
    expect(json).toMatchObject({ architectures: ['T5ForConditionalGeneration'], task_specific_params: { x: 1 }, d_model: 64, model_type: 't5' });
    expect(parseT5Config(json)).toEqual(c);
  });

  it.each([
    [{ d_model: 0 }, 'd_model'],
    [{ d_model: 64.5 }, 'd_model'],
    [{ num_heads: '8' }, 'num_heads'],
    [{ dropout_rate: 1 }, 'dropout_rate'],
    [{ layer_norm_epsilon: -1 }, 'layer_norm_epsilon'],
    [{ feed_forward_proj: 'gated-gelu-x' }, 'feed_forward_proj'],
    [{ feed_forward_proj: 'super-gelu' }, 'feed_forward_proj'],
    [{ feed_forward_proj: 'gated-mish' }, 'feed_forward_proj'],
    [{ tie_word_embeddings: 'yes' }, 'tie_word_embeddings'],
    [{ eos_token_id: -1 }, 'eos_token_id'],
    [{ model_type: 'bart' }, 'model_type'],
    [{ feed_forward_proj: 'gated-silu', is_gated_act: false }, 'is_gated_act'],
  ])('rejects %j naming %s', (json, key) => {
    let err: unknown;
    try {
      parseT5Config(json);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(T5ConfigError);
    expect((err as T5ConfigError).key).toBe(key);
    expect((err as Error).message).toContain(`"${key}"`);
  });
});
