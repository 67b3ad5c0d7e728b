/**
 * Rewrites a WGSL shader that uses `chromium_experimental_subgroup_matrix` into plain WGSL that any
 * WebGPU device (lavapipe here) runs, so the tensor-core kernels' own text — tile origins, K loop,
 * offsets, strides, the dispatch grid — is executed and checked, not a separate stand-in.
 *
 * Semantics emulated (Dawn's, for the templated forms the kernels use):
 * - `subgroupMatrixLoad<T, row_major>(&arr, offset, stride)`: element [r][c] is at element
 *   `offset + r·stride + c` of the matrix component type (`col_major`: `offset + c·stride + r`);
 *   for 8-bit components read from an
 *   `array<i32|u32>`, offset and stride count **words** of that array, and component c of a row
 *   is byte c (little-endian) from the row's first word.
 * - `subgroupMatrixStore<row_major>(&arr, offset, value, stride)`: the same mapping.
 * - `subgroupMatrixMultiplyAccumulate(a, b, acc)` = a·b + acc (M×K · K×N), 8-bit values
 *   sign-extended for i8, f16 values widened to f32.
 * - `@builtin(subgroup_id)` = local_invocation_index / 32 (the kernels assume subgroups of 32),
 *   `@builtin(subgroup_invocation_id)` = local_invocation_index % 32, `@builtin(subgroup_size)` = 32.
 * - Matrices loaded from a workgroup `array<f16, N>` (the staged kernels' blocks): that array holds
 *   f32 here, filled through `unpack2x16float` where the kernel has `bitcast<vec2<f16>>` (and `f32(…)`
 *   where it converts with `f16(…)`).
 *
 * Within an emulated subgroup of 32, lane L owns the result entries e ≡ L (mod 32): it computes and
 * stores only those (exact, in f32/i32), accumulating in place through a pointer. Left and right
 * matrices are handles (offset, stride) read from their array when multiplied: large private
 * arrays passed by value are very slow on lavapipe. `array<f16>` bindings become `array<u32>` read
 * as f16 pairs, so the device needs no `shader-f16`. This encodes our reading of Dawn's semantics:
 * a GPU with the feature may still disagree, which is what prepareTensorCoreKernels' on-device
 * check is for.
 */

interface MatrixAlias {
  use: 'left' | 'right' | 'result';
  component: string;
  rows: number;
  cols: number;
}

const SCALAR: Record<string, string> = { i8: 'i32', u8: 'u32', i32: 'i32', u32: 'u32', f16: 'f32', f32: 'f32' };

export function emulateSubgroupMatrices(code: string): string {
  const aliases = new Map<string, MatrixAlias>();
  let out = code.replace(/alias (\w+) = subgroup_matrix_(left|right|result)<(\w+), (\d+), (\d+)>;/g, (_all, name: string, use: MatrixAlias['use'], component: string, a: string, b: string) => {
    // left<T, K, M>: M rows × K cols; right<T, N, K>: K × N; result<T, N, M>: M × N.
    const m: MatrixAlias = { use, component, rows: Number(b), cols: Number(a) };
    aliases.set(name, m);
    return use === 'result' ? `alias ${name} = array<${SCALAR[component]}, ${m.rows * m.cols}>;` : `struct ${name} { off : u32, stride : u32 }`;
  });
  const byUse = (use: MatrixAlias['use']) => [...aliases].find(([, m]) => m.use === use)!;
  out = out.replace(/^enable (subgroups|chromium_experimental_subgroup_matrix|f16);\n/gm, '');

  // Storage bindings: element types, and f16 arrays as u32 words holding two halves.
  const arrays = new Map<string, string>();
  out = out.replace(/var<storage, (read|read_write)> (\w+) : array<(\w+)>;/g, (_all, access: string, name: string, elem: string) => {
    arrays.set(name, elem);
    return `var<storage, ${access}> ${name} : array<${elem === 'f16' ? 'u32' : elem}>;`;
  });
  // Workgroup arrays of f16 (the staged kernels' blocks) hold f32 here, written from f16 pairs
  // unpacked by unpack2x16float instead of bitcast<vec2<f16>>.
  out = out.replace(/var<workgroup> (\w+) : array<f16, (\d+)>;/g, (_all, name: string, n: string) => {
    arrays.set(name, 'f32');
    return `var<workgroup> ${name} : array<f32, ${n}>;`;
  });
  // Workgroup arrays of 8-bit words (the staged i8 kernel's blocks) stay as they are.
  for (const [, name, elem] of out.matchAll(/var<workgroup> (\w+) : array<(i32|u32), \d+>;/g)) arrays.set(name!, elem!);
  out = out.replaceAll('bitcast<vec2<f16>>(', 'unpack2x16float(').replace(/\bf16\(/g, 'f32(');
  const read = (arr: string, index: string, component: string): string => {
    const elem = arrays.get(arr)!;
    if (component === 'i8' || component === 'u8') {
      const word = `${elem === 'i32' ? `${arr}[(${index}) / 4u]` : `bitcast<i32>(${arr}[(${index}) / 4u])`}`;
      const v = `extractBits(${word}, ((${index}) % 4u) * 8u, 8u)`; // sign-extends (i32)
      return component === 'i8' ? v : `u32(${v}) & 255u`;
    }
    if (elem === 'f16') return `unpack2x16float(${arr}[(${index}) / 2u])[(${index}) % 2u]`;
    return `${SCALAR[component]}(${arr}[${index}])`;
  };

  const helpers: string[] = [];
  const seen = new Set<string>();
  // Loads of left/right matrices only record where the matrix is (its array, offset, stride):
  // emu_mma reads the elements (large private arrays are very slow on lavapipe).
  const source = new Map<string, string>(); // matrix type → the array it is loaded from
  const colMajor = new Map<string, boolean>(); // matrix type → loaded column-major
  out = out.replace(/subgroupMatrixLoad<(\w+), (row_major|col_major)>\(&(\w+), /g, (_all, type: string, layout: string, arr: string) => {
    if ((source.has(type) && source.get(type) !== arr) || (colMajor.has(type) && colMajor.get(type) !== (layout === 'col_major'))) {
      throw new Error(`emulateSubgroupMatrices: ${type} loaded from two arrays or with two layouts`);
    }
    source.set(type, arr);
    colMajor.set(type, layout === 'col_major');
    return `${type}(`;
  });
  // Element [r][c] of a matrix loaded from `arr`: for 8-bit components offset and stride count
  // words of the array, so byte = (offset + r·stride)·4 + c.
  const element = (type: string, r: string, c: string): string => {
    const m = aliases.get(type)!;
    const arr = source.get(type)!;
    const h = type === byUse('left')[0] ? 'a' : 'b';
    // Column-major: the stride steps along columns and the elements of a column are contiguous.
    const [major, minor] = colMajor.get(type) ? [c, r] : [r, c];
    const index = m.component === 'i8' || m.component === 'u8' ? `(${h}.off + (${major}) * ${h}.stride) * 4u + ${minor}` : `${h}.off + (${major}) * ${h}.stride + ${minor}`;
    return read(arr, index, m.component);
  };
  out = out.replace(/subgroupMatrixStore<row_major>\(&(\w+), ([^,]+), ([^,]+), ([^)]+)\);/g, (_all, arr: string, off: string, value: string, stride: string) => {
    const [type, m] = byUse('result');
    const fn = `emu_store_${arr}`;
    if (!seen.has(fn)) {
      seen.add(fn);
      helpers.push(`fn ${fn}(off : u32, m : ptr<function, ${type}>, stride : u32) {
  for (var e = emu_lane; e < ${m.rows * m.cols}u; e += 32u) { ${arr}[off + (e / ${m.cols}u) * stride + e % ${m.cols}u] = (*m)[e]; }
}`);
    }
    return `${fn}(${off}, &${value}, ${stride});`;
  });
  // `acc = subgroupMatrixMultiplyAccumulate(a, b, acc);` accumulates in place (no copies of acc).
  out = out.replace(/(\w+(?:\[\w+\])*) = subgroupMatrixMultiplyAccumulate\(([^,]+), ([^,]+), ([^)]+)\);/g, (all, dst: string, a: string, b: string, acc: string) => {
    if (dst !== acc) throw new Error(`emulateSubgroupMatrices: only acc = subgroupMatrixMultiplyAccumulate(a, b, acc) is emulated, not ${all}`);
    return `subgroupMatrixMultiplyAccumulate(${a}, ${b}, &${acc});`;
  });
  if (out.includes('subgroupMatrixMultiplyAccumulate(')) {
    const [ta, a] = byUse('left');
    const [tb] = byUse('right');
    const [tc, c] = byUse('result');
    helpers.push(`fn emu_mma(a : ${ta}, b : ${tb}, o : ptr<function, ${tc}>) {
  for (var e = emu_lane; e < ${c.rows * c.cols}u; e += 32u) {
    let r = e / ${c.cols}u;
    let n = e % ${c.cols}u;
    var s = (*o)[e];
    for (var k = 0u; k < ${a.cols}u; k++) { s += ${SCALAR[c.component]}(${element(ta, 'r', 'k')}) * ${SCALAR[c.component]}(${element(tb, 'k', 'n')}); }
    (*o)[e] = s;
  }
}`);
    out = out.replaceAll('subgroupMatrixMultiplyAccumulate(', 'emu_mma(');
  }
  // The entry point learns its lane (and, for @builtin(subgroup_id), its subgroup) from local_invocation_index.
  out = out.replace(/fn main\((.*)\) \{/, (_all, params: string) => {
    const usesSg = params.includes('@builtin(subgroup_id) sg : u32');
    const usesLane = params.includes('@builtin(subgroup_invocation_id) lane : u32');
    const usesSize = params.includes('@builtin(subgroup_size) sgSize : u32');
    const rest = params.replace(/,?\s*@builtin\(subgroup_id\) sg : u32/, '').replace(/,?\s*@builtin\(subgroup_invocation_id\) lane : u32/, '').replace(/,?\s*@builtin\(subgroup_size\) sgSize : u32/, '');
    return `fn main(@builtin(local_invocation_index) emu_li : u32, ${rest}) {\n  emu_lane = emu_li % 32u;${usesSg ? '\n  let sg = emu_li / 32u;' : ''}${usesLane ? '\n  let lane = emu_lane;' : ''}${usesSize ? '\n  let sgSize = 32u;' : ''}`;
  });
  if (/subgroup_matrix|subgroupMatrix|subgroup_id/.test(out)) throw new Error('emulateSubgroupMatrices: a subgroup-matrix construct was left unrewritten');
  // Helpers after the type aliases and bindings, before the entry point.
  const at = out.indexOf('@compute');
  return `${out.slice(0, at)}var<private> emu_lane : u32;\n${helpers.join('\n')}\n${out.slice(at)}`;
}
