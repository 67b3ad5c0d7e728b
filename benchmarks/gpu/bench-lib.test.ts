import { describe, expect, it } from 'vitest';
import { kernelFamily, parseFlags, projectFullDepth, pytorchTimeoutS, TimeBudget } from './bench-lib';

describe('GPU bench: flags', () => {
  it('defaults, overrides in order (later wins), and one clear error for a bad value', () => {
    const f = parseFlags(['--layers', '4', '--steps', '4', '--budget-s', '275', '--layers', '2', '--pool-mib', 'none', '--with-pytorch']);
    expect(f).toMatchObject({ layers: 2, steps: 4, passes: 2, budgetS: 275, poolMiB: null, withPytorch: true, ckpt: true, check: true, maxTokens: 4096 });
    expect(parseFlags([]).budgetS).toBe(Infinity);
    expect(parseFlags(['--null-device']).check).toBe(false); // no gradient check where nothing runs
    expect(() => parseFlags(['--steps', '0'])).toThrow(/--steps must be ≥ 1/);
    expect(() => parseFlags(['--budget-s'])).toThrow(/--budget-s needs a number/);
    expect(() => parseFlags(['--bogus'])).toThrow(/unknown flag --bogus/);
  });
});

describe('GPU bench: kernel families (the profile and dispatch tables group by these)', () => {
  it.each([
    ['conifer_int8_tiled_forward_4_64', 'conifer_int8_tiled_forward'],
    ['conifer_lora_down_true_4rows_r8', 'conifer_lora_down'],
    ['conifer_lora_up_db_32x8cols_r8', 'conifer_lora_up_db'],
    ['conifer_t5_attn_kk_bias', 'conifer_t5_attn_kk_bias'],
    ['binary_17_true_false', 'binary_17'],
    ['transpose', 'transpose'],
  ])('%s → %s', (key, family) => expect(kernelFamily(key)).toBe(family));
});

describe('GPU bench: --budget-s', () => {
  it('a phase fits when it ends within the budget at the slowest step so far + 10 %', () => {
    const b = new TimeBudget(100, 0);
    expect(b.fits(1000, 0)).toBe(true); // no step seen yet
    b.step(10);
    b.step(4);
    expect(b.fits(4, 50_000)).toBe(true); // 50 + 1.1·4·10 = 94
    expect(b.fits(5, 50_000)).toBe(false); // 105
    expect(new TimeBudget(Infinity, 0).fits(1e9, 1e12)).toBe(true);
  });
});

describe('GPU bench: GPU memory projected to full depth', () => {
  // Flan-UL2's widths; the int8 bytes of one block as built (packed words + row scales).
  const cfg = { num_layers: 4, num_decoder_layers: 4, d_model: 4096, num_heads: 16, d_kv: 256 };
  const words = (out: number, inF: number) => out * inF + 4 * out;
  const encLinears = 4 * words(4096, 4096) + 2 * words(16384, 4096) + words(4096, 16384);
  const decLinears = encLinears + 4 * words(4096, 4096);
  const linearBytes = (prefix: string) => (prefix === 'encoder.block.0.' ? encLinears : prefix === 'decoder.block.0.' ? decLinears : NaN);
  const batches = [{ batchSize: 8, sourceLength: 512, targetLength: 128 }, { batchSize: 16, sourceLength: 64, targetLength: 192 }];

  it('adds per missing block its weights, norms, LoRA + AdamW state and checkpointed input; the pool cap on top', () => {
    const p = projectFullDepth(cfg, { encoder: 32, decoder: 32 }, batches, linearBytes, 10 * 2 ** 30, 2048)!;
    const lora = (n: number) => n * 8 * (4096 + 4096) * 16;
    const enc = encLinears + 2 * 4096 * 4 + lora(2) + 8 * 512 * 4096 * 4; // largest source: 8 × 512
    const dec = decLinears + 3 * 4096 * 4 + lora(4) + 16 * 192 * 4096 * 4; // largest target: 16 × 192
    expect(p.json.bytesPerEncoderBlock).toBe(enc);
    expect(p.json.bytesPerDecoderBlock).toBe(dec);
    expect(p.json.gpuUsedGiB).toBeCloseTo((10 * 2 ** 30 + 28 * (enc + dec)) / 2 ** 30, 9);
    expect(p.json.gpuHeldAtMostGiB).toBeCloseTo(p.json.gpuUsedGiB! + 2, 9);
    expect(p.line).toMatch(/^memory at full depth \(32\+32 blocks\), projected from this 4\+4: .* \(target ≤ 40 GB = 37\.25 GiB\)$/);
    // ≈ 0.34 and 0.39 GB per block at these batches: the 28 + 28 missing blocks add ≈ 19 GiB.
    expect(p.json.gpuUsedGiB! - 10).toBeGreaterThan(18.5);
    expect(p.json.gpuUsedGiB! - 10).toBeLessThan(19.5);
  });

  it('no projection for the full model itself or without timed batches; an uncapped pool is said so', () => {
    expect(projectFullDepth({ ...cfg, num_layers: 32, num_decoder_layers: 32 }, { encoder: 32, decoder: 32 }, batches, linearBytes, 0, 2048)).toBeNull();
    expect(projectFullDepth(cfg, { encoder: 32, decoder: 32 }, [], linearBytes, 0, 2048)).toBeNull();
    const p = projectFullDepth(cfg, { encoder: 32, decoder: 32 }, batches, linearBytes, 0, null)!;
    expect(p.json.gpuHeldAtMostGiB).toBeNull();
    expect(p.line).toContain('plus the free-buffer pool (uncapped: --pool-mib none)');
  });
});

describe('GPU bench: the PyTorch reference\'s time limit', () => {
  it('≈ 45 % of a finite --budget-s, within 60..180 s; 600 s without a budget', () => {
    expect(pytorchTimeoutS(250)).toBe(113); // the device call's bench: timeout 275 s, --budget-s 250
    expect(pytorchTimeoutS(50)).toBe(60);
    expect(pytorchTimeoutS(1000)).toBe(180);
    expect(pytorchTimeoutS(Infinity)).toBe(600);
  });
});
