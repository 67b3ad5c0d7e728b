// How train's held-out sample and eval's samples show their record (src/pipeline/prompts.ts samplePrompt): by its
// instruction and context, whatever --prompt-template formats the model's prompt in. The dolly and alpaca templates open
// with the same fixed intro ("Below is an instruction that describes a task..."), which filled the 160 / 200 characters
// shown before. (The runs that print them: test/app-flags.test.ts.)
import { describe, expect, it } from 'vitest';
import { PROMPT_TEMPLATES } from '../src/options.js';
import { samplePrompt, sourceText } from '../src/pipeline/prompts.js';

const withContext = { instruction: 'Who wrote\nthe book?', context: 'It was written by\nJane Austen in 1813.', response: 'Jane Austen', category: 'closed_qa' };
const noContext = { instruction: 'Name three colours.', context: '', response: 'Red, green, blue', category: 'brainstorming' };

describe('samplePrompt', () => {
  it('the instruction, then the context when there is one, newlines flattened', () => {
    expect(samplePrompt(withContext, 200)).toBe('Who wrote the book? It was written by Jane Austen in 1813.');
    expect(samplePrompt(noContext, 200)).toBe('Name three colours.');
  });

  it('cut to the characters asked for (train 160, eval 200)', () => {
    const long = { ...withContext, context: 'x'.repeat(500) };
    expect(samplePrompt(long, 160)).toHaveLength(160);
    expect(samplePrompt(long, 200)).toBe(`Who wrote the book? ${'x'.repeat(180)}`);
  });

  it.each(PROMPT_TEMPLATES)('--prompt-template %s: what identifies the record, not the template’s intro', (template) => {
    for (const record of [withContext, noContext]) {
      const shown = samplePrompt(record, 160);
      // the prompt the model gets holds it (newlines flattened); the display is the same under every template
      expect(sourceText(record, template).replace(/\n/g, ' ')).toContain(record.instruction.replace(/\n/g, ' '));
      expect(shown.startsWith(record.instruction.replace(/\n/g, ' '))).toBe(true);
      expect(shown).not.toMatch(/Below is an instruction|###|Input:/);
    }
  });

  it('under the original template, the flattened prompt as shown before (but no trailing space without a context)', () => {
    expect(samplePrompt(withContext, 160)).toBe(sourceText(withContext, 'original').replace(/\n/g, ' ').slice(0, 160));
    expect(samplePrompt(noContext, 160)).toBe(sourceText(noContext, 'original').replace(/\n/g, ' ').trimEnd());
  });
});
