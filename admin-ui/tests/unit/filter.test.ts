import { describe, expect, it } from 'vitest';
import { errorExcerpt, offsetAt, parseFilterError } from '../../src/filter';

describe('parseFilterError', () => {
  it('reads the line, column and text of a compile error', () => {
    expect(parseFilterError('line 2, column 15: unexpected `&`: write `&&` for "and"')).toEqual({
      line: 2,
      column: 15,
      text: 'unexpected `&`: write `&&` for "and"',
    });
  });
  it('keeps multi-line texts and ignores messages without a position', () => {
    expect(parseFilterError('line 1, column 1: a\nb')?.text).toBe('a\nb');
    expect(parseFilterError('the filter is 5000 bytes long; at most 4096 are allowed')).toBeNull();
    expect(parseFilterError('line 0, column 3: x')).toBeNull();
  });
});

describe('offsetAt', () => {
  const src = 'cp.os == \n  "android" &&& x';
  it('finds a line and column', () => {
    expect(offsetAt(src, 1, 1)).toBe(0);
    expect(offsetAt(src, 1, 4)).toBe(3);
    expect(offsetAt(src, 2, 15)).toBe(src.indexOf('&&&') + 2);
  });
  it('counts characters, not UTF-16 units', () => {
    const s = 'cp.name == "😀é" && x';
    // Column 16 is the character after the closing quote; the emoji takes two UTF-16 units.
    expect(offsetAt(s, 1, 16)).toBe(s.indexOf('" &&') + 1);
  });
  it('clamps past the end of a line or of the source', () => {
    expect(offsetAt('ab\ncd', 1, 99)).toBe(2);
    expect(offsetAt('ab\ncd', 9, 1)).toBe(5);
  });
});

describe('errorExcerpt', () => {
  it('puts a caret under the column, keeping tabs aligned', () => {
    expect(errorExcerpt('a\n\tcp.x ++ 1', { line: 2, column: 7, text: 'x' })).toEqual({
      lineText: '\tcp.x ++ 1',
      caret: '\t     ^',
    });
    expect(errorExcerpt('a', { line: 3, column: 1, text: 'x' })).toBeNull();
  });
});
