import { BatchSampler, bundledDollyPath, encodeRecords, loadDolly, loadT5Tokenizer, pick, splitIndices } from '@conifer/dolly-data';

const { records } = await loadDolly(bundledDollyPath()); // 15,011 validated records
const tokenizer = await loadT5Tokenizer(); // the bundled T5 tokenizer
// instruction + "\n" + context → response, truncated to 512 / 512 tokens, </s> appended
const examples = encodeRecords(records, tokenizer);
const { train, test } = splitIndices(records.length, { seed: 42, stratifyBy: records.map((r) => r.category) });

const sampler = new BatchSampler(pick(examples, train), { batching: { kind: 'tokenBudget', maxTokens: 4096 }, seed: 42 });
console.log(`${train.length} train / ${test.length} test; ${sampler.batchesPerEpoch(0)} batches in epoch 0`);

for (const { batch, next } of sampler.batches({ epoch: 0, position: 0 })) {
  console.log(`inputIds [${batch.batchSize}, ${batch.sourceLength}], labels [${batch.batchSize}, ${batch.targetLength}], ${batch.numTargetTokens} target tokens`);
  const row0 = records[train[batch.indices[0]!]!]!;
  console.log(JSON.stringify(row0.instruction), '→', JSON.stringify(tokenizer.decode(batch.labels.subarray(0, batch.targetLength).filter((id) => id !== -100))));
  console.log('resume after this batch from', next);
  break;
}
