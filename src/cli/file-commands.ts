/**
 * File operations on any `STORE:path`, URI or local path: ls, stat, cat, cp, mv, rm, mkdir, glob, du.
 */
import { once } from 'node:events';
import type { Stats } from 'node:fs';
import type { Command } from 'commander';
import { abortError, fsError } from '../core/errors.js';
import type { ArtifactStore } from '../store/artifact-store.js';
import { isTempName, joinPath } from '../store/file-ops.js';
import { activeStoreName } from '../store/stores.js';
import { UsageError } from './errors.js';
import { refuseCatastrophic } from './guards.js';
import { formatBytes, type Output } from './output.js';
import { Progress } from './progress.js';
import { basename, type Target, type Targets } from './targets.js';
import { copyFileBetween, ensureParent, listTree } from './transfer.js';

export interface Context {
  out: Output;
  targets: Targets;
  /** Aborted when the user interrupts a command that writes (see interrupt.ts). */
  signal: AbortSignal;
}

type Action = (ctx: Context, ...args: never[]) => Promise<void>;
/** `writes`: the command cleans up after itself when interrupted (the exit waits for it). */
export type Runner = (action: Action, how?: { writes?: boolean }) => (...args: unknown[]) => Promise<void>;

interface Entry {
  name: string;
  path: string;
  type: 'file' | 'directory';
  size?: number;
  mtime?: string;
}

function typeOf(st: Stats): 'file' | 'directory' {
  return st.isDirectory() ? 'directory' : 'file';
}

async function statOrNull(t: { store: ArtifactStore; full: string }): Promise<Stats | null> {
  try {
    return await t.store.stat(t.full);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

async function defaultOperand(spec: string | undefined): Promise<string> {
  return spec ?? `${await activeStoreName()}:`;
}

async function ls(ctx: Context, spec: string | undefined, opts: { long?: boolean; recursive?: boolean }) {
  const t = await ctx.targets.resolve(await defaultOperand(spec));
  const st = await t.store.stat(t.full);
  const entries: Entry[] = [];
  const add = async (full: string, name: string, known?: Stats): Promise<void> => {
    const s = known ?? (opts.long ? await t.store.stat(full) : undefined);
    const isDir = s ? s.isDirectory() : false;
    entries.push({
      name,
      path: t.show(full),
      type: s ? typeOf(s) : 'file',
      ...(opts.long && s ? { size: isDir ? 0 : s.size, mtime: s.mtime.toISOString() } : {}),
    });
  };
  if (!st.isDirectory()) {
    await add(t.full, basename(t.full), st);
  } else if (opts.recursive) {
    const { files, dirs } = await listTree(t.store, t.full);
    const all = [
      ...dirs.filter((d) => d !== '').map((d) => ({ rel: d, dir: true })),
      ...files.map((f) => ({ rel: f, dir: false })),
    ].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    for (const e of all) {
      const full = joinPath(t.full, e.rel);
      if (opts.long) await add(full, e.rel);
      else entries.push({ name: e.rel, path: t.show(full), type: e.dir ? 'directory' : 'file' });
    }
  } else {
    const dirents = await t.store.fs.promises.readdir(t.full, { withFileTypes: true });
    const names = dirents.filter((d) => !isTempName(d.name)).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const d of names) {
      const full = joinPath(t.full, d.name);
      if (opts.long) await add(full, d.name);
      else entries.push({ name: d.name, path: t.show(full), type: d.isDirectory() ? 'directory' : 'file' });
    }
  }
  if (ctx.out.json) return ctx.out.data(entries);
  for (const e of entries) {
    const name = e.type === 'directory' ? ctx.out.style(`${e.name}/`, 'cyan') : e.name;
    if (!opts.long) ctx.out.line(name);
    else
      ctx.out.line(
        `${e.type === 'directory' ? 'd' : '-'}  ${String(e.type === 'directory' ? '-' : e.size).padStart(12)}  ${e.mtime ?? ''}  ${name}`,
      );
  }
}

async function stat(ctx: Context, specs: string[]) {
  const results: Entry[] = [];
  for (const spec of specs) {
    const t = await ctx.targets.resolve(spec);
    const s = await t.store.stat(t.full);
    const isDir = s.isDirectory();
    results.push({
      name: basename(t.full),
      path: t.show(t.full),
      type: typeOf(s),
      size: isDir ? await t.store.size(t.full) : s.size,
      mtime: s.mtime.toISOString(),
    });
  }
  if (ctx.out.json) return ctx.out.data(specs.length === 1 ? results[0] : results);
  for (const r of results) {
    ctx.out.line(`path:  ${r.path}`);
    ctx.out.line(`type:  ${r.type}`);
    ctx.out.line(`size:  ${r.size} (${formatBytes(r.size ?? 0)})`);
    ctx.out.line(`mtime: ${r.mtime}`);
  }
}

async function cat(ctx: Context, specs: string[]) {
  const stdout = ctx.out.stdout;
  for (const spec of specs) {
    const t = await ctx.targets.resolve(spec);
    const f = await t.store.open(t.full, 'rb');
    try {
      for await (const chunk of f) if (!stdout.write(chunk)) await once(stdout, 'drain');
    } finally {
      await f.close();
    }
  }
}

/** Where a source lands: inside the destination when it is (or is meant as) a directory. */
function landing(dst: Target, dstIsDir: boolean, src: Target): string {
  return dstIsDir || dst.trailingSlash ? joinPath(dst.full, basename(src.full)) : dst.full;
}

function refuseInside(src: Target, dstStore: ArtifactStore, target: string): void {
  if (src.store === dstStore && (target === src.full || target.startsWith(`${src.full}/`)))
    throw fsError('EINVAL', {
      message: `EINVAL: cannot copy '${src.spec}' into itself ('${src.show(target)}')`,
    });
}

interface Totals {
  files: number;
  bytes: number;
}

async function copyOne(
  ctx: Context,
  progress: Progress,
  src: Target,
  srcFull: string,
  dst: Target,
  dstFull: string,
  opts: { noClobber?: boolean; verify?: boolean },
  totals: Totals,
  st: Stats,
): Promise<void> {
  if (ctx.signal.aborted) throw abortError(ctx.signal);
  const size = st.size;
  const from = src.show(srcFull);
  const to = dst.show(dstFull);
  if (opts.noClobber && (await statOrNull({ store: dst.store, full: dstFull }))) {
    if (ctx.out.json) ctx.out.event({ type: 'skipped', src: from, dst: to, reason: 'exists' });
    else ctx.out.info(`skipped ${to} (exists)`);
    return;
  }
  const result = await copyFileBetween(
    { store: src.store, full: srcFull },
    { store: dst.store, full: dstFull },
    {
      size,
      verify: opts.verify ?? false,
      progress: progress.start(from, to, size),
      signal: ctx.signal,
      // A FIFO or a device has no size to copy by: it is read until its end.
      regular: st.isFile(),
    },
  );
  totals.files++;
  totals.bytes += result.bytes;
  if (ctx.out.json) ctx.out.event({ type: 'copied', src: from, dst: to, ...result });
  else
    ctx.out.info(
      `${from} -> ${to} (${formatBytes(result.bytes)}${result.sha256 ? `, sha256 ${result.sha256}` : ''})`,
    );
}

/** Copies `src` to the destination path `target` in `dst`'s store (a file, or a tree with -r). */
async function copyAny(
  ctx: Context,
  progress: Progress,
  src: Target,
  st: Stats,
  dst: Target,
  target: string,
  opts: { recursive?: boolean; noClobber?: boolean; verify?: boolean },
  totals: Totals,
): Promise<void> {
  if (!st.isDirectory()) return copyOne(ctx, progress, src, src.full, dst, target, opts, totals, st);
  if (!opts.recursive) throw fsError('EISDIR', { message: `EISDIR: '${src.spec}' is a directory (use -r)` });
  refuseInside(src, dst.store, target);
  const { files, dirs } = await listTree(src.store, src.full);
  for (const d of dirs) await dst.store.makedirs(d ? joinPath(target, d) : target);
  for (const f of files) {
    const s = await src.store.stat(joinPath(src.full, f));
    // As cp -r: a FIFO, socket or device in a tree is not read (a FIFO nobody writes would block).
    if (!s.isFile()) {
      const shown = src.show(joinPath(src.full, f));
      if (ctx.out.json) ctx.out.event({ type: 'skipped', src: shown, reason: 'not a regular file' });
      else ctx.out.info(`skipped ${shown} (not a regular file)`);
      continue;
    }
    await copyOne(ctx, progress, src, joinPath(src.full, f), dst, joinPath(target, f), opts, totals, s);
  }
}

async function cp(
  ctx: Context,
  operands: string[],
  options: { recursive?: boolean; clobber?: boolean; verify?: boolean },
) {
  if (operands.length < 2) throw new UsageError('cp needs a source and a destination');
  const opts = { ...options, noClobber: options.clobber === false };
  if (operands.at(-1) === '-') return copyToStdout(ctx, operands.slice(0, -1), opts);
  if (operands.slice(0, -1).includes('-')) return copyFromStdin(ctx, operands, opts);
  const progress = new Progress(ctx.out);
  const dst = await ctx.targets.resolve(operands.at(-1)!);
  const dstSt = await statOrNull(dst);
  const dstIsDir = dstSt?.isDirectory() ?? false;
  const sources = operands.slice(0, -1);
  if (sources.length > 1 && !dstIsDir && !dst.trailingSlash)
    throw fsError('ENOTDIR', { message: `ENOTDIR: the destination '${dst.spec}' is not a directory` });
  if (dstSt && !dstIsDir && dst.trailingSlash)
    throw fsError('ENOTDIR', { message: `ENOTDIR: the destination '${dst.spec}' is not a directory` });
  const totals: Totals = { files: 0, bytes: 0 };
  for (const spec of sources) {
    const src = await ctx.targets.resolve(spec);
    const st = await src.store.stat(src.full);
    await copyAny(ctx, progress, src, st, dst, landing(dst, dstIsDir, src), opts, totals);
  }
  if (ctx.out.json) ctx.out.event({ type: 'done', ...totals });
  else if (totals.files > 1) ctx.out.info(`copied ${totals.files} files, ${formatBytes(totals.bytes)}`);
}

/** `cp SOURCE... -`: the files' bytes on stdout, in order (as `cat`; directories refused). */
async function copyToStdout(ctx: Context, sources: string[], opts: { recursive?: boolean }): Promise<void> {
  if (sources.includes('-')) throw new UsageError("cp - -: copy stdin to stdout with 'cat' instead");
  const resolved: Target[] = [];
  for (const spec of sources) {
    const t = await ctx.targets.resolve(spec);
    const st = await t.store.stat(t.full);
    if (st.isDirectory())
      throw fsError('EISDIR', {
        message: `EISDIR: '${spec}' is a directory: only files can be copied to stdout${opts.recursive ? ' (-r does not apply to -)' : ''}`,
      });
    resolved.push(t);
  }
  await cat(
    ctx,
    resolved.map((t) => t.spec),
  );
}

/**
 * `cp - DEST`: stdin streamed into one file, committed when stdin ends (nothing is visible at DEST
 * before; a failed or interrupted copy leaves it absent or as it was). DEST must name a file: a
 * pipe has no name to put inside a directory.
 */
async function copyFromStdin(ctx: Context, operands: string[], opts: { noClobber?: boolean }): Promise<void> {
  if (operands.length !== 2 || operands[0] !== '-')
    throw new UsageError("cp - DEST copies stdin into one file: give '-' alone as the source");
  const dst = await ctx.targets.resolve(operands[1]!);
  const to = dst.show(dst.full);
  const st = await statOrNull(dst);
  if (st?.isDirectory() || dst.trailingSlash)
    throw fsError('EISDIR', {
      message: `EISDIR: cp - needs a file name, not the directory '${dst.spec}' (e.g. '${dst.spec.replace(/\/?$/, '/')}stdin.bin')`,
    });
  if (opts.noClobber && st) {
    if (ctx.out.json) ctx.out.event({ type: 'skipped', src: '-', dst: to, reason: 'exists' });
    else ctx.out.info(`skipped ${to} (exists)`);
    return;
  }
  await ensureParent(dst.store, dst.full);
  const f = await dst.store.open(dst.full, 'wb');
  let bytes = 0;
  // An interrupt ends the wait for more input too (a pipe may stay silent).
  const stop = (): void => {
    process.stdin.destroy(abortError(ctx.signal, { syscall: 'write', path: to }));
  };
  ctx.signal.addEventListener('abort', stop, { once: true });
  try {
    for await (const chunk of process.stdin) {
      bytes += (chunk as Buffer).length;
      await f.write(chunk as Buffer);
    }
    await f.close();
  } catch (err) {
    await f.abort(err instanceof Error ? err : undefined);
    throw err;
  } finally {
    ctx.signal.removeEventListener('abort', stop);
  }
  if (ctx.out.json) {
    ctx.out.event({ type: 'copied', src: '-', dst: to, bytes });
    ctx.out.event({ type: 'done', files: 1, bytes });
  } else ctx.out.info(`- -> ${to} (${formatBytes(bytes)})`);
}

async function mv(ctx: Context, operands: string[], options: { clobber?: boolean }) {
  if (operands.length < 2) throw new UsageError('mv needs a source and a destination');
  const opts = { noClobber: options.clobber === false };
  const progress = new Progress(ctx.out);
  const dst = await ctx.targets.resolve(operands.at(-1)!);
  const dstSt = await statOrNull(dst);
  const dstIsDir = dstSt?.isDirectory() ?? false;
  const sources = operands.slice(0, -1);
  if (sources.length > 1 && !dstIsDir && !dst.trailingSlash)
    throw fsError('ENOTDIR', { message: `ENOTDIR: the destination '${dst.spec}' is not a directory` });
  const totals: Totals = { files: 0, bytes: 0 };
  for (const spec of sources) {
    const src = await ctx.targets.resolve(spec);
    await refuseCatastrophic(ctx.targets, src, 'move', { preserveRoot: true });
    const st = await src.store.stat(src.full);
    const target = landing(dst, dstIsDir, src);
    const from = src.show(src.full);
    const to = dst.show(target);
    if (opts.noClobber && (await statOrNull({ store: dst.store, full: target }))) {
      if (ctx.out.json) ctx.out.event({ type: 'skipped', src: from, dst: to, reason: 'exists' });
      else ctx.out.info(`skipped ${to} (exists)`);
      continue;
    }
    if (src.store === dst.store) {
      refuseInside(src, dst.store, target);
      await ensureParent(dst.store, target);
      await src.store.rename(src.full, target, true);
      totals.files++;
      if (ctx.out.json) ctx.out.event({ type: 'moved', src: from, dst: to });
      else ctx.out.info(`${from} -> ${to}`);
      continue;
    }
    // Across stores: copy everything, and only then delete the source.
    await copyAny(ctx, progress, src, st, dst, target, { recursive: true }, totals);
    if (st.isDirectory()) await src.store.rmtree(src.full);
    else await src.store.remove(src.full);
    if (ctx.out.json) ctx.out.event({ type: 'moved', src: from, dst: to });
    else ctx.out.info(`removed ${from}`);
  }
  if (ctx.out.json) ctx.out.event({ type: 'done', ...totals });
}

async function rm(
  ctx: Context,
  specs: string[],
  opts: { recursive?: boolean; force?: boolean; preserveRoot?: boolean },
) {
  const removed: string[] = [];
  const targets: Target[] = [];
  // Every operand is checked before anything is removed: `rm -r a/ /` removes nothing.
  for (const spec of specs) {
    const t = await ctx.targets.resolve(spec);
    await refuseCatastrophic(ctx.targets, t, 'remove', { preserveRoot: opts.preserveRoot !== false });
    targets.push(t);
  }
  for (const t of targets) {
    const spec = t.spec;
    const st = await statOrNull(t);
    if (!st) {
      if (opts.force) continue;
      throw fsError('ENOENT', { syscall: 'rm', path: spec });
    }
    if (st.isDirectory()) {
      if (!opts.recursive) throw fsError('EISDIR', { message: `EISDIR: '${spec}' is a directory (use -r)` });
      await t.store.rmtree(t.full);
    } else {
      await t.store.remove(t.full);
    }
    removed.push(t.show(t.full));
    ctx.out.info(`removed ${t.show(t.full)}`);
  }
  if (ctx.out.json) ctx.out.data({ removed });
}

async function mkdir(ctx: Context, specs: string[], opts: { parents?: boolean }) {
  const created: string[] = [];
  for (const spec of specs) {
    const t = await ctx.targets.resolve(spec);
    if (opts.parents) await t.store.makedirs(t.full);
    else await t.store.mkdir(t.full);
    created.push(t.show(t.full));
  }
  if (ctx.out.json) ctx.out.data({ created });
}

async function glob(ctx: Context, patterns: string[]) {
  const matches: string[] = [];
  const unmatched: string[] = [];
  for (const pattern of patterns) {
    const t = await ctx.targets.resolve(pattern);
    const found = await t.store.glob(t.full);
    if (!found.length) unmatched.push(pattern);
    for (const m of found) matches.push(t.show(m));
  }
  // As a shell with failglob (and grep): no match is a failure a script can test, not an empty success.
  if (unmatched.length)
    throw fsError('ENOENT', {
      message: `ENOENT: no path matches ${unmatched.map((p) => `'${p}'`).join(', ')}`,
    });
  if (ctx.out.json) return ctx.out.data(matches);
  for (const m of matches) ctx.out.line(m);
}

async function du(ctx: Context, specs: string[], opts: { human?: boolean }) {
  const rows: Array<{ path: string; bytes: number; files: number }> = [];
  for (const spec of specs.length ? specs : [await defaultOperand(undefined)]) {
    const t = await ctx.targets.resolve(spec);
    const st = await t.store.stat(t.full);
    if (!st.isDirectory()) {
      rows.push({ path: t.show(t.full), bytes: st.size, files: 1 });
      continue;
    }
    const { files } = await listTree(t.store, t.full);
    let bytes = 0;
    for (const f of files) bytes += (await t.store.stat(joinPath(t.full, f))).size;
    rows.push({ path: t.show(t.full), bytes, files: files.length });
  }
  if (ctx.out.json) return ctx.out.data(specs.length > 1 ? rows : rows[0]);
  for (const r of rows) ctx.out.line(`${opts.human ? formatBytes(r.bytes) : r.bytes}\t${r.path}`);
}

/** `sweep`: the hidden temp files that killed writers left (FileOps.sweep), removed or listed. */
async function sweep(ctx: Context, specs: string[], opts: { dryRun?: boolean }) {
  const found: string[] = [];
  for (const spec of specs.length ? specs : [await defaultOperand(undefined)]) {
    const t = await ctx.targets.resolve(spec);
    for (const p of await t.store.sweep(t.full, { dryRun: opts.dryRun ?? false })) found.push(t.show(p));
  }
  if (ctx.out.json) return ctx.out.data(opts.dryRun ? { abandoned: found } : { removed: found });
  for (const p of found) ctx.out.line(p);
  ctx.out.info(`${opts.dryRun ? 'found' : 'removed'} ${found.length} abandoned temp file(s)`);
}

export function addFileCommands(program: Command, run: Runner): void {
  program
    .command('ls')
    .description('list a directory (the active store when no path is given)')
    .argument('[path]', 'STORE:path, a URI or a local path')
    .option('-l, --long', 'type, size and modification time')
    .option('-r, --recursive', 'everything below, with paths relative to the listed directory')
    .action(run(ls as Action));
  program
    .command('stat')
    .description('type, size and modification time (a directory: the total size of its files)')
    .argument('<paths...>')
    .action(run(stat as Action));
  program
    .command('cat')
    .description('write files to stdout')
    .argument('<paths...>')
    .action(run(cat as Action));
  program
    .command('cp')
    .description('copy files (streamed, across stores too); into DEST when it is a directory or ends in /')
    .argument('<operands...>', "SOURCE... DEST ('-' as SOURCE: stdin; as DEST: stdout)")
    .option('-r, --recursive', 'copy directories')
    .option('-n, --no-clobber', 'skip files that exist at the destination')
    .option('--verify', 'hash what was sent and read the destination back to compare (SHA-256)')
    .action(run(cp as Action, { writes: true }));
  program
    .command('mv')
    .description('move or rename (across stores: copy, then delete the source)')
    .argument('<operands...>', 'SOURCE... DEST')
    .option('-n, --no-clobber', 'skip sources whose destination exists')
    .action(run(mv as Action, { writes: true }));
  program
    .command('rm')
    .description('remove files (directories with -r)')
    .argument('<paths...>')
    .option('-r, --recursive', 'remove directories and their contents')
    .option('-f, --force', 'ignore paths that do not exist')
    .option('--no-preserve-root', "allow removing '/' or a whole bucket (a store's root is always refused)")
    .action(run(rm as Action));
  program
    .command('mkdir')
    .description('create directories')
    .argument('<paths...>')
    .option('-p, --parents', 'create missing parents; an existing directory is fine')
    .action(run(mkdir as Action));
  program
    .command('glob')
    .description(
      "paths matching a pattern ('*', '**', '?', '[…]', '{a,b}'); quote it from the shell; exit 1 when a pattern matches nothing",
    )
    .argument('<patterns...>')
    .action(run(glob as Action));
  program
    .command('du')
    .description('bytes used by files and directories (the active store when no path is given)')
    .argument('[paths...]')
    .option('-H, --human', 'sizes in KiB, MiB, GiB')
    .action(run(du as Action));
  program
    .command('sweep')
    .description(
      'remove the hidden temp files that killed writers left below a directory (the active store when none is given)',
    )
    .argument('[paths...]')
    .option('-n, --dry-run', 'only list them')
    .action(run(sweep as Action));
}
