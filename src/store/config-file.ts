/**
 * The config file (`<config dir>/config.json`): read, validated in full, written atomically, and
 * changed under its lock. A file that cannot be used as it is (not JSON, a field of the wrong type,
 * a store record missing its path, a version from a newer artifact-vfs) is refused with
 * ERR_INVALID_CONFIG naming the file, the field and the fix, and is never written over: every
 * command that needs the config fails until the user fixes or moves it, and none loses a store.
 */
import { randomUUID } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { chmod, lstat, mkdir, open, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { fsError } from '../core/errors.js';
import { parseJson, JsonProblem } from './config-json.js';
import { withLock } from './config-lock.js';
import { checkRecords, type FlavorLookup, type Problem } from './config-records.js';

export type { FlavorLookup } from './config-records.js';

/** The config format this artifact-vfs reads and writes. */
export const CONFIG_VERSION = 1;

export interface ConfigFile {
  version: 1;
  /** The default local store's directory name under `<config dir>/local_stores/` (a UUID). */
  defaultLocalStore?: string;
  [key: string]: unknown;
}

/** A config file is a few KiB; anything this large is not one (and is not read into memory). */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/** The config directory: `$ARTIFACT_VFS_CONFIG_DIR`, else the platform's (XDG) config dir. */
export function configDir(): string {
  return process.env.ARTIFACT_VFS_CONFIG_DIR || envPaths('artifact-vfs', { suffix: '' }).config;
}

export function configFilePath(): string {
  return join(configDir(), 'config.json');
}

const FIX =
  'fix the file, or move it aside to start afresh; `avfs artifact-store list` works again once it is valid';

/** ERR_INVALID_CONFIG for `problems` (the first is the message; the rest are counted). */
export function invalidConfig(file: string, problems: Problem[], cause?: unknown): Error {
  const [first, ...rest] = problems as [Problem, ...Problem[]];
  const more = rest.length ? ` (and ${rest.length} more problem${rest.length > 1 ? 's' : ''})` : '';
  const where = first.field ? ` at ${first.field}` : '';
  const err = fsError('ERR_INVALID_CONFIG', {
    path: file,
    message: `ERR_INVALID_CONFIG: the artifact-vfs config file '${file}' is invalid${where}: ${first.what}${more}; ${first.fix ?? FIX}`,
    cause,
  });
  // The key path of each problem, for callers that point at it (an editor, a test).
  Object.defineProperty(err, 'field', { value: first.field, enumerable: true, configurable: true });
  Object.defineProperty(err, 'problems', { value: problems, enumerable: false, configurable: true });
  return err;
}

/** The problems of a parsed config (none: it can be used and written back as it is). */
export function configProblems(raw: unknown, flavors: FlavorLookup): Problem[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const got = raw === null ? 'null' : Array.isArray(raw) ? 'an array' : `a ${typeof raw}`;
    return [{ field: '', what: `the file must hold a JSON object ({"version": 1, …}), not ${got}` }];
  }
  const config = raw as Record<string, unknown>;
  const v = config.version;
  if (typeof v === 'number' && Number.isInteger(v) && v > CONFIG_VERSION) {
    // Nothing else is checked: a newer format may mean anything by its fields.
    return [
      {
        field: 'version',
        what: `version ${v} was written by a newer artifact-vfs (this one reads version ${CONFIG_VERSION})`,
        fix: 'upgrade artifact-vfs, or give this one another config dir (--config-dir, ARTIFACT_VFS_CONFIG_DIR)',
      },
    ];
  }
  const problems: Problem[] = [];
  if (v !== undefined && v !== CONFIG_VERSION)
    problems.push({
      field: 'version',
      what: `must be the number ${CONFIG_VERSION}, got ${typeof v === 'number' ? v : `a ${typeof v === 'object' ? (v === null ? 'null' : 'JSON object or array') : typeof v}`}`,
    });
  const id = config.defaultLocalStore;
  if (id !== undefined && (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)))
    problems.push({
      field: 'defaultLocalStore',
      what:
        'must be the name of a directory under local_stores/ in the config dir (a UUID; one name, no path)' +
        (typeof id === 'string' ? `, got ${JSON.stringify(id.slice(0, 80))}` : `, got a ${typeof id}`),
      fix: 'fix the file (to keep the default store elsewhere, set ARTIFACT_VFS_LOCAL_STORE instead); `avfs artifact-store list` works again once it is valid',
    });
  problems.push(...checkRecords(config, flavors));
  return problems;
}

/** The config as the file holds it (`{version: 1}` when there is none yet); ERR_INVALID_CONFIG if unusable. */
export async function readConfig(flavors: FlavorLookup): Promise<ConfigFile> {
  const file = configFilePath();
  const text = await readText(file);
  if (text === undefined) return { version: 1 };
  let raw: unknown;
  try {
    if (text.trim() === '') throw new JsonProblem('the file is empty', 1, 1, '');
    raw = parseJson(text);
  } catch (err) {
    if (!(err instanceof JsonProblem)) throw err;
    const inField = err.field ? ` (in ${err.field})` : '';
    throw invalidConfig(file, [
      { field: '', what: `not valid JSON: ${err.what} at line ${err.line}, column ${err.column}${inField}` },
    ]);
  }
  const problems = configProblems(raw, flavors);
  if (problems.length) throw invalidConfig(file, problems);
  return raw as ConfigFile;
}

const READ_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** The file's text (a UTF-8 BOM dropped), or undefined when there is no config file yet. */
async function readText(file: string): Promise<string | undefined> {
  const unreadable = (what: string, cause?: unknown, fix?: string): Error =>
    invalidConfig(file, [{ field: '', what, ...(fix ? { fix } : {}) }], cause);
  let handle;
  try {
    // Non-blocking: a FIFO in the file's place must not hang every command.
    handle = await open(file, READ_FLAGS);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT') {
      // A symlink to a missing file is the user's, not "no config yet": it is not replaced.
      if (
        await lstat(file).then(
          () => true,
          () => false,
        )
      )
        throw unreadable('it is a symbolic link to a missing file', err, 'fix or remove the link');
      return undefined;
    }
    if (code === 'ENOTDIR')
      throw unreadable(
        `the config dir '${configDir()}' is not a directory`,
        err,
        'point --config-dir or ARTIFACT_VFS_CONFIG_DIR at a directory',
      );
    if (code === 'EACCES' || code === 'EPERM')
      throw unreadable(
        'it cannot be read (permission denied)',
        err,
        'give your user read and write access (chmod 600)',
      );
    throw unreadable(`it cannot be read (${code ?? String(err)})`, err);
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory())
      throw unreadable('it is a directory, not a file', undefined, 'move the directory away');
    if (!info.isFile())
      throw unreadable('it is not a regular file', undefined, 'replace it with the JSON file');
    if (info.size > MAX_CONFIG_BYTES)
      throw unreadable(`it is ${info.size} bytes; a config file is a few KiB`);
    const bytes = await handle.readFile();
    try {
      // fatal: bytes that are not UTF-8 would be rewritten as U+FFFD on the next write.
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch (err) {
      throw unreadable('it is not UTF-8 text', err, 'save it as UTF-8');
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'EISDIR')
      throw unreadable('it is a directory, not a file', err, 'move the directory away');
    throw err;
  } finally {
    await handle.close();
  }
}

/** Writes the config atomically (temp file, then rename), mode 0600 in a 0700 directory. */
export async function writeConfig(config: ConfigFile, flavors: FlavorLookup): Promise<void> {
  const file = configFilePath();
  // A change that would leave the file unreadable is refused: a bug here must not brick the config.
  const problems = configProblems(JSON.parse(JSON.stringify(config)) as unknown, flavors);
  if (problems.length) throw invalidConfig(file, problems);
  const dir = configDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700).catch(() => undefined);
  const tmp = `${file}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(config, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/**
 * Read-modify-write of the config file under its lock (see config-lock.ts), so two processes
 * changing it at once cannot lose each other's update. `change` edits the config it is given and
 * returns a result; if it throws, or the file is invalid, nothing is written.
 */
export async function updateConfig<T>(
  change: (config: ConfigFile) => T | Promise<T>,
  flavors: FlavorLookup,
): Promise<T> {
  const dir = configDir();
  // Refused before the lock is taken (and the dir made): an unusable config is never locked.
  await readConfig(flavors);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return withLock(join(dir, 'config.json.lock'), async () => {
    const config = await readConfig(flavors);
    const result = await change(config);
    await writeConfig(config, flavors);
    return result;
  });
}
