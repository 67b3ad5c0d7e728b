// The README's example: run with `npx tsx examples/quickstart.ts` from packages/safetensors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile, float32ToBf16Bits, resolveCheckpointFiles, serializeSafetensors, toFloat32, writeSafetensorsFile } from '@conifer/safetensors';

// A checkpoint folder as transformers writes one: a BF16 weight and an F32 norm in model.safetensors.
const dir = await mkdtemp(join(tmpdir(), 'safetensors-example-'));
const bf16 = float32ToBf16Bits(new Float32Array([0.1, -2, 3.14159, 65504])); // round to nearest even, as torch's .to()
await writeSafetensorsFile(join(dir, 'model.safetensors'), [
  { name: 'q.weight', dtype: 'BF16', shape: [2, 2], bytes: () => new Uint8Array(bf16.buffer) },
  { name: 'layer_norm.weight', dtype: 'F32', shape: [2], bytes: () => new Uint8Array(new Float32Array([1, 0.5]).buffer) },
], { format: 'pt' }); // streamed, atomic; laid out as Python's save_file lays them out (F32 before BF16)

const { files } = await resolveCheckpointFiles(dir); // model.safetensors or the shards of model.safetensors.index.json
const file = await SafetensorsFile.open(files[0]!);   // header read and validated; no tensor data yet
console.log('metadata', file.header.metadata);
for (const name of file.names()) {                    // in data order
  const { dtype, shape, data } = await file.read(name); // one positioned read of that tensor's bytes
  const values = toFloat32(dtype, data);                // F32 / F16 / BF16 → Float32Array
  console.log(name, dtype, shape, Array.from(values));
}
await file.close();

const bytes = serializeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } }, { format: 'pt' });
const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)); // 8-byte little-endian length, then the JSON header
console.log(`serialized: ${bytes.length} bytes, header ${new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)).trimEnd()}`);
await rm(dir, { recursive: true });
