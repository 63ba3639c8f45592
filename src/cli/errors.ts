/** CLI errors: a usage error exits 2 (bad flags, malformed `--KEY=VALUE`); anything else exits 1. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** `--KEY=VALUE` arguments (what commander leaves unparsed) as a config object. */
export function parseKeyValues(args: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const arg of args) {
    const m = /^--([A-Za-z][A-Za-z0-9_-]*)=(.*)$/s.exec(arg);
    if (!m) {
      // Only an option's name is echoed: a stray value may be a credential.
      const name = /^--?[A-Za-z0-9_-]*/.exec(arg)?.[0];
      throw new UsageError(
        name && name.length > 2
          ? `malformed config option '${name}': expected --KEY=VALUE`
          : 'unexpected argument: config options are given as --KEY=VALUE',
      );
    }
    if (m[1]! in out) throw new UsageError(`config option '--${m[1]}' given twice`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * Maps a command-line key to a flavor's field: exact, else snake_case / kebab-case to camelCase
 * (ZenML writes `--account_name`), else case-insensitive. Unknown keys pass through unchanged, so
 * the flavor's validation names them.
 */
export function fieldName(key: string, fields: readonly string[]): string {
  if (fields.includes(key)) return key;
  const camel = key.replace(/[-_]+([a-zA-Z0-9])/g, (_m, c: string) => c.toUpperCase());
  if (fields.includes(camel)) return camel;
  const lower = camel.toLowerCase();
  return fields.find((f) => f.toLowerCase() === lower) ?? key;
}
