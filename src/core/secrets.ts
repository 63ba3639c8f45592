/**
 * Process-wide secret scrubbing. Every secret value a store config carries is registered here, and
 * every FsError message (and its provider cause) passes through here before anyone sees it, so a
 * credential can never leak through an error, a log line or `util.inspect`.
 *
 * Two layers: registered values are masked wherever they occur (`scrub`), and what is secret by its
 * shape is masked whether registered or not (`redactText`: signed-URL query parameters, auth
 * headers, URL user-info, PEM private keys), because credentials from the SDKs' default chains
 * (environment, profiles, instance roles) are never registered.
 */
const secrets = new Set<string>();

/**
 * Marks a value as secret: the value, its URL-encoded form (request URLs: SAS tokens, signed URLs)
 * and its base64 form (Basic auth, encoded bodies). Values shorter than 4 characters are ignored
 * (they would mask noise).
 */
export function registerSecret(value: unknown): void {
  if (typeof value !== 'string' || value.length < 4) return;
  secrets.add(value);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) secrets.add(encoded);
  const b64 = Buffer.from(value, 'utf8').toString('base64');
  secrets.add(b64);
  const bare = b64.replace(/=+$/, '');
  if (bare.length >= 4) secrets.add(bare);
}

export const REDACTED = '**********';

/** Replaces every registered secret in `text` with a fixed mask. */
export function scrub(text: string): string {
  if (secrets.size === 0 || !text) return text;
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(REDACTED);
  return out;
}

/** Query parameters that are credentials on their own (SigV4, GCS V4 and SAS signatures, GCS upload sessions, tokens). */
const QUERY_SECRET =
  /((?:^|[?&;\s"',])(?:x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential|signature|sig|upload_id|access_token|id_token|refresh_token|client_secret|key)=)(?!REDACTED|\*{4})[^&\s"'#;,<>]+/gi;
/** `Name: value` (or `"name":"value"`) of a header that carries a credential. */
const HEADER_SECRET =
  /\b(authorization|proxy-authorization|cookie|set-cookie|x-amz-security-token|x-api-key|x-goog-[a-z-]*key|x-ms-[a-z-]*(?:key|signature|token|authorization))(["']?\s*[:=]\s*["']?)(?!REDACTED|\*{4})[^\r\n"']+/gi;
/** SigV4's `Credential=<access key id>/<scope>`, and scheme-tagged tokens. */
const CREDENTIAL = /\b(Credential=)(?!REDACTED|\*{4})[^,\s&"']+/gi;
const AUTH_SCHEME =
  /\b(Bearer|Basic|SharedKey|SharedKeyLite|AWS4-HMAC-SHA256|GOOG4-RSA-SHA256)\s+(?!Credential=|REDACTED|\*{4})[^\s"',]+/g;
/** `scheme://user:password@host`: the user-info of a URL. */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s@:"']*:[^/\s@"']*@/gi;
const PEM_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g;

/** `scrub`, then masks what is secret by its shape, registered or not. */
export function redactText(text: string): string {
  if (!text) return text;
  return scrub(text)
    .replace(PEM_KEY, REDACTED)
    .replace(USERINFO, `$1${REDACTED}@`)
    .replace(QUERY_SECRET, `$1${REDACTED}`)
    .replace(HEADER_SECRET, `$1$2${REDACTED}`)
    .replace(CREDENTIAL, `$1${REDACTED}`)
    .replace(AUTH_SCHEME, `$1 ${REDACTED}`);
}

/**
 * Field (and header) names whose value is a credential whatever it looks like: auth headers,
 * cookies, and the config names of keys, tokens, passwords and signatures (`accessKeyId`,
 * `sessionToken`, `accountKey`, `sasToken`, `private_key`, `client_secret`…).
 */
const SECRET_NAME =
  /^(?:authorization|proxy-authorization|cookie|set-cookie|x-api-key|x-amz-security-token|x-goog-[\w-]*key|x-ms-[\w-]*(?:key|signature|token|authorization))$|password|passwd|secret|token|credential|private_?key|access_?key|account_?key|api_?key|sas|signature|connection_?string/i;

export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

/** Fields that hold a request, its transport or its headers: removed from a cause outright. */
const DROPPED = new Set([
  'request',
  'req',
  'config',
  'options',
  'headers',
  'rawHeaders',
  '_header',
  'socket',
  'agent',
  'client',
  'connection',
  'body',
]);
/** Fields that hold a response: replaced by its status, which is what a reader of the error needs. */
const RESPONSES = new Set(['response', '$response', 'res']);
const STATUS_FIELDS = ['status', 'statusCode', 'statusText', 'statusMessage'] as const;

/** Bounds of the walk: a cause is a few small objects; anything deeper or wider is cut. */
const MAX_DEPTH = 8;
const MAX_NODES = 2000;
const MAX_ITEMS = 200;

interface Walk {
  nodes: number;
  /** Original → cleaned, for cycles and shared objects. */
  seen: Map<object, unknown>;
}

/**
 * Cleans a provider error (or any value) to be kept as an FsError's `cause`: its useful parts stay
 * (name, code, message, HTTP status, `$metadata` with the request id, service error details), but
 * no request, response, header or transport object, no value under a secret-sounding name, and
 * every string masked (`redactText`), at every depth: non-enumerable and Symbol-keyed properties,
 * getters (read once and replaced by their value), arrays, Maps, Sets and cycles, within bounds.
 *
 * Errors are cleaned in place, so `err.cause === providerError` still holds and `instanceof`
 * still works; the other objects they reference are replaced by clean copies (they may be live:
 * a client, a socket, a config). An error that cannot be changed (frozen, or a locked property
 * holding something secret) is replaced by a clean copy with the same prototype.
 */
export function cleanCause(value: unknown): unknown {
  return clean(value, 0, { nodes: 0, seen: new Map() });
}

function clean(value: unknown, depth: number, walk: Walk): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value === 'function') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (walk.seen.has(value)) return walk.seen.get(value);
  if (depth > MAX_DEPTH || ++walk.nodes > MAX_NODES) return '[truncated]';
  if (value instanceof Error) return cleanError(value, depth, walk);
  if (value instanceof Date) return value;
  if (value instanceof URL) return redactText(value.href);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    walk.seen.set(value, out);
    for (const item of value.slice(0, MAX_ITEMS)) out.push(clean(item, depth + 1, walk));
    if (value.length > MAX_ITEMS) out.push(`[${value.length - MAX_ITEMS} more]`);
    return out;
  }
  if (value instanceof Map) {
    const out = new Map<unknown, unknown>();
    walk.seen.set(value, out);
    for (const [k, v] of [...value].slice(0, MAX_ITEMS))
      out.set(
        clean(k, depth + 1, walk),
        typeof k === 'string' && isSecretName(k) ? REDACTED : clean(v, depth + 1, walk),
      );
    return out;
  }
  if (value instanceof Set) {
    const out = new Set<unknown>();
    walk.seen.set(value, out);
    for (const v of [...value].slice(0, MAX_ITEMS)) out.add(clean(v, depth + 1, walk));
    return out;
  }
  const out: Record<PropertyKey, unknown> = {};
  walk.seen.set(value, out);
  return copyFields(value, out, depth, walk);
}

/** Copies every own property of `from` onto `to`, cleaned; enumerability is kept. */
function copyFields<T extends object>(from: object, to: T, depth: number, walk: Walk): T {
  for (const key of Reflect.ownKeys(from)) {
    const d = Object.getOwnPropertyDescriptor(from, key);
    if (!d) continue;
    const v = cleanField(from, key, d, depth, walk);
    if (v !== DROP)
      Object.defineProperty(to, key, {
        value: v,
        enumerable: d.enumerable,
        writable: true,
        configurable: true,
      });
  }
  return to;
}

const DROP = Symbol('drop');

/** The clean value of one property, or DROP. Getters are read once (a throwing one is dropped). */
function cleanField(
  owner: object,
  key: string | symbol,
  d: PropertyDescriptor,
  depth: number,
  walk: Walk,
): unknown {
  const name = typeof key === 'string' ? key : (key.description ?? '');
  if (DROPPED.has(name)) return DROP;
  let raw: unknown;
  try {
    raw = 'value' in d ? d.value : d.get?.call(owner);
  } catch {
    return DROP;
  }
  if (typeof raw === 'function') return DROP;
  if (RESPONSES.has(name)) return responseSummary(raw);
  if (isSecretName(name) && raw !== undefined && raw !== null && typeof raw !== 'boolean') return REDACTED;
  return clean(raw, depth + 1, walk);
}

function responseSummary(res: unknown): unknown {
  if (res === null || typeof res !== 'object') return DROP;
  const out: Record<string, unknown> = {};
  for (const k of STATUS_FIELDS) {
    try {
      const v = (res as Record<string, unknown>)[k];
      if (typeof v === 'number' || typeof v === 'string') out[k] = typeof v === 'string' ? redactText(v) : v;
    } catch {
      // a throwing getter: nothing to keep
    }
  }
  return Object.keys(out).length ? out : DROP;
}

function cleanError(err: Error, depth: number, walk: Walk): unknown {
  walk.seen.set(err, err);
  const updates: Array<[string | symbol, PropertyDescriptor, unknown]> = [];
  for (const key of Reflect.ownKeys(err)) {
    const d = Object.getOwnPropertyDescriptor(err, key);
    if (!d) continue;
    const v = cleanField(err, key, d, depth, walk);
    if (v === DROP || !('value' in d) || v !== d.value) updates.push([key, d, v]);
  }
  let stuck = false;
  for (const [key, d, v] of updates) {
    try {
      if (v === DROP) {
        if (!Reflect.deleteProperty(err, key)) stuck = true;
      } else if (
        !Reflect.defineProperty(err, key, {
          value: v,
          enumerable: d.enumerable,
          writable: true,
          configurable: true,
        })
      ) {
        // A locked property (the SDK's `$response` is one) keeps its object, cleaned in place.
        if (!(d.writable && Reflect.set(err, key, v)) && !cleanLocked(key, d.value, depth, walk))
          stuck = true;
      }
    } catch {
      stuck = true;
    }
  }
  if (!stuck) return err;
  return copyError(err, depth, walk);
}

/**
 * Cleans in place the object under a property that cannot be replaced: a response keeps only its
 * status fields, anything else gets the same treatment as a cause's own fields. False if it cannot.
 */
function cleanLocked(key: string | symbol, value: unknown, depth: number, walk: Walk): boolean {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return false;
  const response = typeof key === 'string' && RESPONSES.has(key);
  for (const k of Reflect.ownKeys(value)) {
    const d = Object.getOwnPropertyDescriptor(value, k);
    if (!d) continue;
    const keep = response && typeof k === 'string' && (STATUS_FIELDS as readonly string[]).includes(k);
    const v = response && !keep ? DROP : cleanField(value, k, d, depth + 1, walk);
    try {
      const done =
        v === DROP
          ? Reflect.deleteProperty(value, k)
          : ('value' in d && v === d.value) ||
            Reflect.defineProperty(value, k, {
              value: v,
              writable: true,
              enumerable: d.enumerable,
              configurable: true,
            });
      if (!done) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/** A clean stand-in for an error that cannot be changed: a real Error with the same prototype. */
function copyError(err: Error, depth: number, walk: Walk): Error {
  const copy = new Error();
  Object.setPrototypeOf(copy, Object.getPrototypeOf(err) as object | null);
  walk.seen.set(err, copy);
  for (const key of Reflect.ownKeys(copy)) Reflect.deleteProperty(copy, key);
  return copyFields(err, copy, depth, walk);
}
