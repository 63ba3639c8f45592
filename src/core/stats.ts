/**
 * Stats and Dirent for adapters that do not get them from node:fs or memfs. They are structurally
 * Node's: every field and predicate of `fs.Stats` / `fs.Dirent` exists with Node's meaning.
 */
import { constants } from 'node:fs';
import type * as nodeFs from 'node:fs';

export type EntryKind = 'file' | 'directory';

export interface StatsInit {
  kind: EntryKind;
  size?: number;
  mtime?: Date;
  birthtime?: Date;
  /** Provider metadata kept for callers that want it (etag, generation, content type…). */
  meta?: Record<string, unknown>;
}

const BLOCK = 4096;

export class VfsStats implements nodeFs.Stats {
  dev = 0;
  ino = 0;
  mode: number;
  nlink = 1;
  uid = 0;
  gid = 0;
  rdev = 0;
  size: number;
  blksize = BLOCK;
  blocks: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
  birthtimeMs: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  birthtime: Date;
  /** Provider metadata (not part of Node's Stats). */
  declare readonly meta: Record<string, unknown> | undefined;

  constructor(init: StatsInit) {
    const dir = init.kind === 'directory';
    this.mode = dir ? constants.S_IFDIR | 0o755 : constants.S_IFREG | 0o644;
    this.size = dir ? 0 : (init.size ?? 0);
    this.blocks = Math.ceil(this.size / 512);
    const mtime = init.mtime ?? new Date(0);
    const birth = init.birthtime ?? mtime;
    this.mtime = mtime;
    this.atime = mtime;
    this.ctime = mtime;
    this.birthtime = birth;
    this.mtimeMs = this.atimeMs = this.ctimeMs = mtime.getTime();
    this.birthtimeMs = birth.getTime();
    Object.defineProperty(this, 'meta', { value: init.meta, enumerable: false });
  }
  isFile(): boolean {
    return (this.mode & constants.S_IFMT) === constants.S_IFREG;
  }
  isDirectory(): boolean {
    return (this.mode & constants.S_IFMT) === constants.S_IFDIR;
  }
  isBlockDevice(): boolean {
    return false;
  }
  isCharacterDevice(): boolean {
    return false;
  }
  isSymbolicLink(): boolean {
    return false;
  }
  isFIFO(): boolean {
    return false;
  }
  isSocket(): boolean {
    return false;
  }
}

export class VfsDirent implements nodeFs.Dirent {
  name: string;
  parentPath: string;
  /** Node 20 still has the deprecated alias; kept equal to `parentPath`. */
  path: string;
  readonly #kind: EntryKind;

  constructor(name: string, kind: EntryKind, parentPath: string) {
    this.name = name;
    this.#kind = kind;
    this.parentPath = parentPath;
    this.path = parentPath;
  }
  isFile(): boolean {
    return this.#kind === 'file';
  }
  isDirectory(): boolean {
    return this.#kind === 'directory';
  }
  isBlockDevice(): boolean {
    return false;
  }
  isCharacterDevice(): boolean {
    return false;
  }
  isSymbolicLink(): boolean {
    return false;
  }
  isFIFO(): boolean {
    return false;
  }
  isSocket(): boolean {
    return false;
  }
}
