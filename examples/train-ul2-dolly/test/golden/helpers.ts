import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The golden fixtures these cross-package tests read, shipped with the packages' own tests (see their PROVENANCE.md). */
export const T5_FIXTURES = fileURLToPath(new URL('../../../../packages/t5-model/test/fixtures', import.meta.url));
export const LORA_FIXTURES = fileURLToPath(new URL('../../../../packages/lora/test/fixtures', import.meta.url));

/** A path inside @conifer/lora's golden fixtures. */
export const loraFixture = (path: string): string => join(LORA_FIXTURES, path);

/** A golden case's inputs and labels (`lora-ul2-tiny.json`'s fields) as a `lossSum` batch: @conifer/t5-model's test helper. */
export { goldenBatch } from '../../../../packages/t5-model/test/helpers.js';

/** Relative L2 error ‖a − b‖ / ‖b‖ (how the golden README states its tolerances). */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}
