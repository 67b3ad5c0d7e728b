import { describe, expect, it } from 'vitest';
import { promptFormatter, type DollyRecord } from '../src';

const rec: DollyRecord = { instruction: 'Who?', context: 'Ann wrote it.', response: 'Ann', category: 'closed_qa' };

describe('prompt templates: a lone brace', () => {
  it.each([
    ['{instruction', '{', 1],
    ['Q: {instruction}}', '}', 17],
    ['{{instruction}', '}', 14],
    ['{context} and {', '{', 15],
    ['} {instruction}', '}', 1],
  ])('%j is an error naming the brace and its place (as Python str.format), not literal text', (source, brace, at) => {
    expect(() => promptFormatter({ source })).toThrow(`prompt template: a lone "${brace}" at character ${at} of ${JSON.stringify(source)}`);
  });

  it('is checked in sourceNoContext and target too', () => {
    expect(() => promptFormatter({ source: '{instruction}', sourceNoContext: '{instruction} }' })).toThrow(/lone "\}" at character 15/);
    expect(() => promptFormatter({ source: '{instruction}', target: '{response' })).toThrow(/lone "\{" at character 1 of "\{response"/);
  });

  it('doubled braces and placeholders still give their text', () => {
    expect(promptFormatter({ source: '{{ {instruction} }} {{}}', target: '{{{response}}}' })(rec)).toEqual({ source: '{ Who? } {}', target: '{Ann}' });
  });
});
