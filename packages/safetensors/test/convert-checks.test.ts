import { describe, expect, it } from 'vitest';
import { decodeFloatsInto, SafetensorsError, toFloat32, toInt32 } from '../src/index.js';

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

describe('toFloat32 / toInt32: bytes that are not whole elements', () => {
  it('is one SafetensorsError naming the function, byte count and dtype (F32, F16, BF16, F64, I32, I64)', () => {
    const cases: Array<[Parameters<typeof toFloat32>[0], number, number]> = [
      ['F32', 5, 4],
      ['F16', 5, 2],
      ['BF16', 3, 2],
      ['F64', 12, 8],
      ['I32', 6, 4],
      ['I64', 4, 8],
    ];
    for (const [dtype, n, size] of cases) {
      const msg = (fn: string) => `${fn}: ${n} bytes are not a whole number of ${dtype} elements (${size} bytes each)`;
      expect(() => toFloat32(dtype, new Uint8Array(n))).toThrow(new SafetensorsError(msg('toFloat32')));
      if (dtype[0] === 'I') expect(() => toInt32(dtype, new Uint8Array(n))).toThrow(new SafetensorsError(msg('toInt32')));
    }
  });

  it('whole elements still decode, F16 included (5 bytes used to give 2 values, the last byte dropped)', () => {
    expect(Array.from(toFloat32('F16', Uint8Array.of(0x00, 0x3c, 0x00, 0xc0)))).toEqual([1, -2]);
    expect(Array.from(toFloat32('F32', bytesOf(new Float32Array([1.5, -3]))))).toEqual([1.5, -3]);
    expect(Array.from(toInt32('I16', bytesOf(new Int16Array([-7, 300]))))).toEqual([-7, 300]);
  });
});

describe('toInt32: values that are not int32', () => {
  it('U32 past 2^31 - 1, I64 past int32 either way, U64: an error naming the element, not a wrapped value', () => {
    expect(() => toInt32('U32', bytesOf(new Uint32Array([5, 4294967295])))).toThrow(new SafetensorsError('toInt32: U32 element 1 is 4294967295, not an int32'));
    expect(() => toInt32('I64', bytesOf(new BigInt64Array([2n ** 32n])))).toThrow(new SafetensorsError('toInt32: I64 element 0 is 4294967296, not an int32'));
    expect(() => toInt32('I64', bytesOf(new BigInt64Array([0n, -(2n ** 31n) - 1n])))).toThrow(/I64 element 1 is -2147483649, not an int32/);
    expect(() => toInt32('U64', bytesOf(new BigUint64Array([2n ** 31n])))).toThrow(/U64 element 0 is 2147483648/);
  });

  it('a float element with a fraction (or NaN) is refused, not truncated', () => {
    expect(() => toInt32('F32', bytesOf(new Float32Array([2, 1.5])))).toThrow(new SafetensorsError('toInt32: F32 element 1 is 1.5, not an int32'));
    expect(() => toInt32('F64', bytesOf(new Float64Array([NaN])))).toThrow(/F64 element 0 is NaN/);
  });

  it('the int32 range itself is kept exactly', () => {
    const edge = [-(2 ** 31), 2 ** 31 - 1, 0, -1];
    expect(Array.from(toInt32('I64', bytesOf(BigInt64Array.from(edge.map(BigInt)))))).toEqual(edge);
    expect(Array.from(toInt32('U32', bytesOf(new Uint32Array([2 ** 31 - 1]))))).toEqual([2 ** 31 - 1]);
    expect(Array.from(toInt32('BOOL', Uint8Array.of(0, 1)))).toEqual([0, 1]);
  });
});

describe('decodeFloatsInto: start and count must be integers', () => {
  const bytes = bytesOf(new Float32Array([1, 2, 3, 4]));
  it.each([
    [0.5, 2],
    [NaN, 2],
    [0, 1.5],
    [1, NaN],
  ])('start %s, count %s: one error, nothing read from a wrong offset', (start, count) => {
    const out = new Float32Array(4);
    expect(() => decodeFloatsInto('F32', bytes, start, count, out)).toThrow(new SafetensorsError(`decodeFloatsInto: start ${start} and count ${count} must be integers`));
    expect(Array.from(out)).toEqual([0, 0, 0, 0]);
  });
});
