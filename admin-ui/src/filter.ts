// Profile filter helpers: the API compiles a filter on every write and answers a compile error as
// `{"error": "invalid", "field": "body", "message": "line L, column C: what is wrong"}`, with the
// column counted in characters (Unicode scalar values). These turn that into a place in the editor.

export interface FilterErrorAt {
  line: number;
  column: number;
  /** What is wrong, without the position. */
  text: string;
}

/** The position and text of a compile error message, or null when it names no position. */
export function parseFilterError(message: string): FilterErrorAt | null {
  const m = /^line (\d+), column (\d+): ([\s\S]*)$/.exec(message);
  if (!m) return null;
  const line = Number(m[1]);
  const column = Number(m[2]);
  if (line < 1 || column < 1) return null;
  return { line, column, text: m[3] };
}

/**
 * The string index (UTF-16 units, as textarea selections count) of a 1-based line and character
 * column in `source`, clamped to the end of that line, or of the source.
 */
export function offsetAt(source: string, line: number, column: number): number {
  let index = 0;
  for (let l = 1; l < line; l++) {
    const newline = source.indexOf('\n', index);
    if (newline < 0) return source.length;
    index = newline + 1;
  }
  const end = source.indexOf('\n', index);
  const lineEnd = end < 0 ? source.length : end;
  for (let c = 1; c < column && index < lineEnd; c++) {
    const code = source.charCodeAt(index);
    index += code >= 0xd800 && code <= 0xdbff && index + 1 < lineEnd ? 2 : 1;
  }
  return index;
}

/** The source line an error points at and a caret line under its column (tabs kept aligned). */
export function errorExcerpt(source: string, at: FilterErrorAt): { lineText: string; caret: string } | null {
  const lines = source.split('\n');
  const lineText = lines[at.line - 1];
  if (lineText === undefined) return null;
  const before = Array.from(lineText).slice(0, at.column - 1);
  const caret = before.map((c) => (c === '\t' ? '\t' : ' ')).join('') + '^';
  return { lineText, caret };
}

/** The filter language in brief, after model/src/filter (shown beside the editor). */
export const FILTER_HELP: { title: string; text: string }[] = [
  { title: 'Meaning', text: 'A filter is an expression that is true for the endpoints that belong to the group.' },
  {
    title: 'Profiles',
    text: 'cp is the client-side profile (sent by the endpoint), sp the server-side profile; read fields with cp.os or sp["field-name"], list elements with cp.tags[0].',
  },
  {
    title: 'Values and operators',
    text: 'true, false, null, 42, 1.5, "text", [1, 2]; c ? a : b, ||, &&, == != < <= > >= in, + - * / %, ! and unary -. x in [..] tests list membership, "key" in m a map key.',
  },
  {
    title: 'Functions',
    text: 'has(cp.field), size(x), s.startsWith(t), s.endsWith(t), s.contains(t), s.lowerAscii(), s.upperAscii(), int(x), double(x), string(x), list.exists(x, cond), list.all(x, cond). Comments run from // to the end of the line.',
  },
  {
    title: 'Absent fields',
    text: 'A filter that needs a field the profile does not have does not match: for a profile without os, neither cp.os == "ios" nor cp.os != "ios" matches; !has(cp.os) || cp.os != "ios" does.',
  },
];

export const FILTER_EXAMPLE = 'cp.os == "android" && cp.version >= 5';

/** The sample client profile the filter tester starts with when there is no client-profile schema. */
export const SAMPLE_CLIENT_PROFILE = { os: 'android', version: 6 };
