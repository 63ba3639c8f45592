/**
 * Process-wide secret scrubbing. Every secret value a store config carries is registered here, and
 * every FsError message (and its provider cause's message) passes through `scrub` before anyone
 * sees it, so a credential can never leak through an error, a log line or `util.inspect`.
 */
const secrets = new Set<string>();

/** Marks a value as secret. Values shorter than 4 characters are ignored (they would mask noise). */
export function registerSecret(value: unknown): void {
  if (typeof value === 'string' && value.length >= 4) {
    secrets.add(value);
    // URL-encoded forms show up in request URLs (SAS tokens, signed URLs).
    const encoded = encodeURIComponent(value);
    if (encoded !== value) secrets.add(encoded);
  }
}

export const REDACTED = '**********';

/** Replaces every registered secret in `text` with a fixed mask. */
export function scrub(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}
