import { describe, expect, it } from 'vitest';
import { ALPACA_TEMPLATE, DOLLY_TEMPLATE, originalPrompt, promptFormatter, type DollyRecord } from '../src';

const withCtx: DollyRecord = { instruction: 'Who wrote it?', context: 'It was written by Ann.', response: 'Ann.', category: 'closed_qa' };
const noCtx: DollyRecord = { instruction: 'Name a fruit.', context: '', response: 'Apple', category: 'open_qa' };

describe('prompt formats', () => {
  it("the original project's format: instruction + \\n + context → response", () => {
    expect(originalPrompt(withCtx)).toEqual({ source: 'Who wrote it?\nIt was written by Ann.', target: 'Ann.' });
    // Empty context keeps the "\n" (the golden prompts are built this way; the tokenizer strips it).
    expect(originalPrompt(noCtx)).toEqual({ source: 'Name a fruit.\n', target: 'Apple' });
    expect(promptFormatter()).toBe(originalPrompt);
    expect(promptFormatter('original')).toBe(originalPrompt);
  });

  it('ALPACA_TEMPLATE: Alpaca\'s intros and "### Input:", the bare response as target', () => {
    const f = promptFormatter(ALPACA_TEMPLATE);
    expect(f(withCtx).source).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nWho wrote it?\n\n### Input:\nIt was written by Ann.\n\n### Response:\n',
    );
    expect(f(noCtx).source).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nName a fruit.\n\n### Response:\n',
    );
    expect(f(noCtx).target).toBe('Apple');
  });

  it("DOLLY_TEMPLATE: Dolly's training format (one intro, a plain \"Input:\" line, \"### End\" after the response)", () => {
    const f = promptFormatter(DOLLY_TEMPLATE);
    // databrickslabs/dolly training/consts.py PROMPT_WITH_INPUT_FORMAT, split at the response
    expect(f(withCtx)).toEqual({
      source:
        'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nWho wrote it?\n\nInput:\nIt was written by Ann.\n\n### Response:\n',
      target: 'Ann.\n\n### End',
    });
    // PROMPT_NO_INPUT_FORMAT
    expect(f(noCtx)).toEqual({
      source:
        'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nName a fruit.\n\n### Response:\n',
      target: 'Apple\n\n### End',
    });
    // source + target is Dolly's whole training text
    const r = f(withCtx);
    expect(r.source + r.target).toBe(
      'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
        '### Instruction:\nWho wrote it?\n\nInput:\nIt was written by Ann.\n\n### Response:\nAnn.\n\n### End',
    );
    expect(promptFormatter({ ...DOLLY_TEMPLATE, target: '{response}' })(noCtx).target).toBe('Apple');
  });

  it('a user template: all placeholders, literal braces, default target', () => {
    const f = promptFormatter({ source: '[{category}] {instruction} {{ctx: {context}}}' });
    expect(f(withCtx)).toEqual({ source: '[closed_qa] Who wrote it? {ctx: It was written by Ann.}', target: 'Ann.' });
    // placeholders are filled once: braces inside values are not expanded again
    const g = promptFormatter({ source: '{instruction}', target: '<{response}>' });
    expect(g({ ...noCtx, instruction: '{context}', response: '{x}' })).toEqual({ source: '{context}', target: '<{x}>' });
  });

  it('an unknown placeholder is an error when the template is compiled', () => {
    expect(() => promptFormatter({ source: '{instruction} {input}' })).toThrow(/unknown placeholder \{input\}/);
    expect(() => promptFormatter({ source: '{instruction}', target: '{answer}' })).toThrow(/\{answer\}/);
  });

  it('a function format is used as is', () => {
    const fn = (r: DollyRecord) => ({ source: r.instruction.toUpperCase(), target: r.response });
    expect(promptFormatter(fn)(noCtx)).toEqual({ source: 'NAME A FRUIT.', target: 'Apple' });
  });
});
