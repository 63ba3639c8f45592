/**
 * A strict JSON reader for the config file. `JSON.parse` would do for well-formed files, but its
 * errors are raw (`Unterminated string in JSON at position 41`, no line or column) and it accepts
 * what cannot be written back unchanged: a duplicate key keeps only the last value (the first
 * store would be lost on the next write), `1e400` becomes Infinity (written back as `null`), and a
 * 20-digit integer loses digits. This reader refuses all of those with the line, column and the
 * key path (`stores.s3s.config`), so the config file is either taken exactly or not at all.
 */

/** Where a config file stops being usable: `line`/`column` are 1-based; `field` is a key path. */
export class JsonProblem extends Error {
  constructor(
    readonly what: string,
    readonly line: number,
    readonly column: number,
    readonly field: string,
  ) {
    super(what);
  }
}

/** Nesting beyond this is refused (a config is a few levels deep; recursion must not overflow). */
const MAX_DEPTH = 64;

const ESCAPES: Record<string, string> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** `a.b`, `a["x y"]`, `a[2]`: how a key path is shown in messages. */
export function fieldPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  if (/^[A-Za-z_$][\w$]*$/.test(key)) return parent ? `${parent}.${key}` : key;
  return `${parent}[${JSON.stringify(key)}]`;
}

export function parseJson(text: string): unknown {
  let i = 0;

  const fail = (what: string, at: number, field: string): never => {
    let line = 1;
    let lineStart = 0;
    for (let k = 0; k < at && k < text.length; k++) {
      if (text.charCodeAt(k) === 10) {
        line++;
        lineStart = k + 1;
      }
    }
    throw new JsonProblem(what, line, at - lineStart + 1, field);
  };
  // Only a safe rendering of one character: the file may hold secrets, so no excerpt is shown.
  const describe = (at: number): string => {
    if (at >= text.length) return 'the end of the file';
    const c = text[at]!;
    return /[\x21-\x7e]/.test(c)
      ? `'${c}'`
      : `the character U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
  };
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r'))
      i++;
  };

  const value = (field: string, depth: number): unknown => {
    skipSpace();
    if (depth > MAX_DEPTH) fail(`nested more than ${MAX_DEPTH} levels deep`, i, field);
    const c = text[i];
    if (c === '{') return object(field, depth);
    if (c === '[') return array(field, depth);
    if (c === '"') return string(field);
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number(field);
    for (const [word, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail(`expected a value, found ${describe(i)}`, i, field);
  };

  const object = (field: string, depth: number): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    const seen = new Set<string>();
    i++; // {
    skipSpace();
    if (text[i] === '}') {
      i++;
      return out;
    }
    for (;;) {
      skipSpace();
      if (text[i] !== '"') fail(`expected a key in double quotes, found ${describe(i)}`, i, field);
      const at = i;
      const key = string(field);
      const child = fieldPath(field, key);
      if (seen.has(key)) fail(`duplicate key '${key}' (only one would be kept)`, at, child);
      seen.add(key);
      skipSpace();
      if (text[i] !== ':') fail(`expected ':' after the key '${key}', found ${describe(i)}`, i, child);
      i++;
      // defineProperty: a key such as `__proto__` stays an ordinary key, as JSON.parse keeps it.
      Object.defineProperty(out, key, {
        value: value(child, depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      skipSpace();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '}') {
        i++;
        return out;
      }
      fail(`expected ',' or '}', found ${describe(i)}`, i, field);
    }
  };

  const array = (field: string, depth: number): unknown[] => {
    const out: unknown[] = [];
    i++; // [
    skipSpace();
    if (text[i] === ']') {
      i++;
      return out;
    }
    for (;;) {
      out.push(value(fieldPath(field, out.length), depth + 1));
      skipSpace();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === ']') {
        i++;
        return out;
      }
      fail(`expected ',' or ']', found ${describe(i)}`, i, field);
    }
  };

  const string = (field: string): string => {
    const start = i;
    i++; // "
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string', start, field);
      const c = text[i]!;
      if (c === '"') {
        i++;
        return out;
      }
      if (c < ' ') fail(`a raw control character (${describe(i)}) in a string; write it escaped`, i, field);
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        i += 2;
      } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
        out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
        i += 6;
      } else {
        fail(`invalid escape in a string`, i, field);
      }
    }
  };

  const number = (field: string): number => {
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail(`invalid number`, i, field);
    const token = m[0];
    const n = Number(token);
    if (!Number.isFinite(n)) fail(`the number ${token.slice(0, 24)}… is too large`, i, field);
    // An integer literal that a double cannot hold would be written back with other digits.
    if (!m[1] && !m[2] && BigInt(token) !== BigInt(n))
      fail(`the integer ${token} is too large to keep exactly`, i, field);
    i += token.length;
    return n;
  };

  const result = value('', 0);
  skipSpace();
  if (i < text.length) fail(`unexpected ${describe(i)} after the end of the JSON value`, i, '');
  return result;
}
