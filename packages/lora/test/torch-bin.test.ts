import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { zipSync } from 'fflate';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorchPickleError, injectLora, loadAdapter, readTorchStateDict } from '../src/index.js';
import { CheckpointLinears, TwoLayerHost, fixture } from './helpers.js';

/**
 * A hand-written pickle writer emitting what `torch.save(state_dict)` (protocol 2) emits:
 *   {key: _rebuild_tensor_v2(persid(('storage', torch.FloatStorage, '0', 'cpu', numel)),
 *                            offset, size, stride, False, OrderedDict())}
 */
class Pickle {
  private readonly out: number[] = [];
  private memo = 0;
  op(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }
  put(): this {
    const i = this.memo++;
    return i < 256 ? this.op(0x71, i) : this.op(0x72, i & 0xff, (i >> 8) & 0xff, 0, 0); // BINPUT / LONG_BINPUT
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b).put(); // BINUNICODE
  }
  int(n: number): this {
    return n < 256 ? this.op(0x4b, n) : this.op(0x4d, n & 0xff, n >> 8); // BININT1 / BININT2
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)).put(); // GLOBAL
  }
  tuple(items: number[]): this {
    this.op(0x28); // MARK
    for (const i of items) this.int(i);
    return this.op(0x74).put(); // TUPLE
  }
  tensor(storageKey: string, storageType: string, numel: number, offset: number, size: number[], stride: number[]): this {
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.op(0x28); // MARK (args)
    this.op(0x28).str('storage').global('torch', storageType).str(storageKey).str('cpu').int(numel).op(0x74).put().op(0x51); // persistent id, BINPERSID
    this.int(offset).tuple(size).tuple(stride).op(0x89); // NEWFALSE (requires_grad)
    this.global('collections', 'OrderedDict').op(0x29, 0x52).put(); // OrderedDict() for backward hooks
    return this.op(0x74).put().op(0x52).put(); // TUPLE, REDUCE
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

const f32 = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
const f16 = (hs: number[]) => new Uint8Array(Uint16Array.from(hs).buffer);

function torchZip(pkl: Uint8Array, storages: Record<string, Uint8Array>, archive = 'archive'): Uint8Array {
  const files: Record<string, Uint8Array> = {
    [`${archive}/data.pkl`]: pkl,
    [`${archive}/byteorder`]: new TextEncoder().encode('little'),
    [`${archive}/version`]: new TextEncoder().encode('3\n'),
  };
  for (const [k, v] of Object.entries(storages)) files[`${archive}/data/${k}`] = v;
  return zipSync(files, { level: 0 }); // torch writes stored (uncompressed) entries
}

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await mkdtemp(join(tmpdir(), 'conifer-lora-bin-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('legacy adapter_model.bin (PyTorch zip + restricted unpickler)', () => {
  it('rebuilds tensors: plain dict and OrderedDict with _metadata, offsets, transposed views, F16 storages', () => {
    // storage 0: 6 floats; "a" = view [2,2] at offset 2; "aT" = its transpose (stride [1,2]); "h" = F16 [3]
    const p = new Pickle().op(0x80, 2).global('collections', 'OrderedDict').op(0x29, 0x52).put().op(0x28);
    p.str('a').tensor('0', 'FloatStorage', 6, 2, [2, 2], [2, 1]);
    p.str('aT').tensor('0', 'FloatStorage', 6, 2, [2, 2], [1, 2]);
    p.str('h').tensor('1', 'HalfStorage', 3, 0, [3], [1]);
    p.op(0x75); // SETITEMS
    // state_dict()._metadata: BUILD with {'_metadata': OrderedDict()} on the OrderedDict
    p.op(0x7d).put().str('_metadata').global('collections', 'OrderedDict').op(0x29, 0x52).put().op(0x73, 0x62, 0x2e); // SETITEM, BUILD, STOP
    const zip = torchZip(p.bytes(), { '0': f32([9, 9, 1, 2, 3, 4]), '1': f16([0x3c00, 0xc000, 0x3800]) });
    const sd = readTorchStateDict(zip);
    expect([...sd.keys()]).toEqual(['a', 'aT', 'h']);
    expect(sd.get('a')).toEqual({ dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) });
    expect(sd.get('aT')!.data).toEqual(Float32Array.from([1, 3, 2, 4]));
    expect(sd.get('h')).toEqual({ dtype: 'F16', shape: [3], data: Float32Array.from([1, -2, 0.5]) });
  });

  it('loads a PEFT 0.3-style adapter folder (adapter_config.json + adapter_model.bin) onto a host', async () => {
    // Build the .bin from a saved adapter of the fake host, as torch.save(get_peft_model_state_dict(model)) would.
    const src = new TwoLayerHost();
    const lora = injectLora(src, { r: 2, lora_alpha: 4, init_lora_weights: false }, { seed: 5 });
    const sd = lora.stateDict();
    const p = new Pickle().op(0x80, 2).op(0x7d).put().op(0x28); // EMPTY_DICT, MARK
    const storages: Record<string, Uint8Array> = {};
    let i = 0;
    for (const [key, t] of sd) {
      p.str(key).tensor(String(i), 'FloatStorage', t.data.length, 0, t.shape, [t.shape[1]!, 1]);
      storages[String(i++)] = new Uint8Array(t.data.slice().buffer);
    }
    p.op(0x75, 0x2e);
    const dir = join(tmp, 'peft03');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir);
    await writeFile(join(dir, 'adapter_model.bin'), torchZip(p.bytes(), storages, 'adapter_model'));
    await writeFile(
      join(dir, 'adapter_config.json'),
      JSON.stringify({ base_model_name_or_path: 'x', bias: 'none', enable_lora: null, fan_in_fan_out: false, inference_mode: true, lora_alpha: 4, lora_dropout: 0.05, merge_weights: false, modules_to_save: null, peft_type: 'LORA', r: 2, target_modules: ['q', 'v'], task_type: 'SEQ_2_SEQ_LM' }),
    );
    lora.unload();
    src.dispose();

    const host = new TwoLayerHost();
    const loaded = await loadAdapter(host, dir);
    for (const [k, t] of loaded.stateDict()) expect(t.data).toEqual(sd.get(k)!.data);
    loaded.unload();
    host.dispose();
  });

  it('refuses any other global before anything runs, with a clear error', () => {
    // the classic: os.system("echo pwned")
    const evil = new Pickle().op(0x80, 2).global('os', 'system').str('echo pwned').op(0x85, 0x52, 0x2e).bytes();
    expect(() => readTorchStateDict(torchZip(evil, {}))).toThrow(TorchPickleError);
    expect(() => readTorchStateDict(torchZip(evil, {}))).toThrow(/refusing pickle global "os\.system"/);
    const builtins = new Pickle().op(0x80, 2).global('builtins', 'eval').bytes();
    expect(() => readTorchStateDict(torchZip(builtins, {}))).toThrow(/refusing pickle global "builtins\.eval"/);
    // STACK_GLOBAL (protocol 4) goes through the same allow-list
    const stackGlobal = new Pickle().op(0x80, 4).str('subprocess').str('Popen').op(0x93).bytes();
    expect(() => readTorchStateDict(torchZip(stackGlobal, {}))).toThrow(/refusing pickle global "subprocess\.Popen"/);
    // an allowed global that is not callable (a storage class) is refused at REDUCE
    const callStorage = new Pickle().op(0x80, 2).global('torch', 'FloatStorage').op(0x29, 0x52, 0x2e).bytes();
    expect(() => readTorchStateDict(torchZip(callStorage, {}))).toThrow(/torch\.FloatStorage cannot be called/);
  });

  it('refuses opcodes a state dict does not use, and malformed archives', () => {
    const inst = new Pickle().op(0x80, 2, 0x69).bytes(); // INST
    expect(() => readTorchStateDict(torchZip(inst, {}))).toThrow(/refusing pickle opcode 0x69/);
    const obj = new Pickle().op(0x80, 2, 0x28, 0x6f).bytes(); // OBJ
    expect(() => readTorchStateDict(torchZip(obj, {}))).toThrow(/refusing pickle opcode 0x6f/);
    expect(() => readTorchStateDict(new Uint8Array([0x80, 2, 0x7d, 0x2e]))).toThrow(/not a zip archive/);
    const missing = new Pickle().op(0x80, 2, 0x7d).put().str('w').tensor('7', 'FloatStorage', 4, 0, [4], [1]).op(0x73, 0x2e).bytes();
    expect(() => readTorchStateDict(torchZip(missing, {}))).toThrow(/storage data\/7 of "w" is missing/);
    const outside = new Pickle().op(0x80, 2, 0x7d).put().str('w').tensor('0', 'FloatStorage', 4, 2, [4], [1]).op(0x73, 0x2e).bytes();
    expect(() => readTorchStateDict(torchZip(outside, { '0': f32([1, 2, 3, 4]) }))).toThrow(/outside its storage/);
    expect(() => readTorchStateDict(torchZip(new Pickle().op(0x80, 2, 0x7d).bytes(), {}))).toThrow(/unexpected end of pickle/);
  });

  it('hostile sizes are refused before any large allocation: a zip entry claiming more than the file, a view larger than its storage', () => {
    const empty = new Pickle().op(0x80, 2, 0x7d, 0x2e).bytes(); // {}
    // A deflated entry of 8 MiB of zeros (~8 KB in the file): it claims more bytes than the file holds.
    const bomb = zipSync({ 'archive/data.pkl': [empty, { level: 0 }], 'archive/data/9': [new Uint8Array(8 << 20), { level: 9 }] });
    expect(bomb.byteLength).toBeLessThan(100_000);
    expect(() => readTorchStateDict(bomb)).toThrow(/archive\/data\/9 claims 8388608 bytes, more than the \d+-byte file/);
    // Entries a state dict does not use are not even decompressed.
    const extra = zipSync({ 'archive/data.pkl': [empty, { level: 0 }], 'archive/.data/junk': [new Uint8Array(8 << 20), { level: 9 }] });
    expect(readTorchStateDict(extra).size).toBe(0);
    // One element viewed as 8192 × 8192 with strides (0, 0): 256 MiB from 4 bytes.
    const amplified = new Pickle().op(0x80, 2, 0x7d).put().str('w').tensor('0', 'FloatStorage', 1, 0, [8192, 8192], [0, 0]).op(0x73, 0x2e).bytes();
    expect(() => readTorchStateDict(torchZip(amplified, { '0': f32([1]) }))).toThrow(/view of 67108864 elements over a storage of 1/);
  });

  it('reads the golden adapter via a .bin built from it (PEFT keys and values survive)', async () => {
    const { readAdapter } = await import('../src/index.js');
    const { tensors } = await readAdapter(fixture('ul2-tiny-qv-r4'));
    const p = new Pickle().op(0x80, 2).op(0x7d).put().op(0x28);
    const storages: Record<string, Uint8Array> = {};
    let i = 0;
    for (const [key, t] of tensors) {
      p.str(key).tensor(String(i), 'FloatStorage', t.data.length, 0, t.shape, [t.shape[1]!, 1]);
      storages[String(i++)] = new Uint8Array(t.data.slice().buffer);
    }
    const sd = readTorchStateDict(torchZip(p.op(0x75, 0x2e).bytes(), storages));
    expect(sd.size).toBe(32);
    for (const [k, t] of tensors) expect(sd.get(k)!.data).toEqual(t.data);
  });

  it('loads a .bin pickled by CPython\'s own pickler in torch.save\'s layout (fixtures/torch-format, PEFT 0.3 config)', async () => {
    // fixtures/make_torch_bin.py: the golden ul2-tiny-qv-r4 adapter, protocol 2, BINGET/LONG_BINPUT memo reuse.
    const host = await CheckpointLinears.open(fixture('ul2-tiny/model.safetensors'));
    const fromBin = await loadAdapter(host, fixture('torch-format'));
    expect(fromBin.config).toMatchObject({ r: 4, lora_alpha: 8, merge_weights: false, enable_lora: null });
    const bin = fromBin.stateDict();
    fromBin.unload();
    const fromSt = await loadAdapter(host, fixture('ul2-tiny-qv-r4'));
    const st = fromSt.stateDict();
    fromSt.unload();
    expect([...bin.keys()]).toEqual([...st.keys()]);
    for (const [k, t] of st) expect(bin.get(k)).toEqual(t);
    host.dispose();
  });
});
