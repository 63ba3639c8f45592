import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { allBytes, finishedAndClosed, makeTree, payload, readAll, sha256, streamError } from './helpers.js';
import { itIf } from './helpers.js';

const LARGE = 3 * 1024 * 1024 + 17;

export const topic: Topic = {
  name: 'streams',
  declare(ctx) {
    const itStrictDirs = itIf(
      ctx.caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    it('createReadStream reads the whole file', async () => {
      const t = ctx.target();
      const data = Buffer.concat([allBytes(), payload(100_000, 3)]);
      await makeTree(t, { 'r.bin': data });
      expect(await readAll(t.fs.createReadStream(t.join('r.bin')))).toEqual(data);
    });

    it('start and end are inclusive byte offsets', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'hello world' });
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 1, end: 3 }))).toString()).toBe(
        'ell',
      );
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 6, end: 10 }))).toString()).toBe(
        'world',
      );
    });

    it('start 0, end 0 reads exactly the first byte', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'hello' });
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 0, end: 0 }))).toString()).toBe(
        'h',
      );
    });

    it('end beyond the size stops at end of file', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'hello' });
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 2, end: 100 }))).toString()).toBe(
        'llo',
      );
    });

    it('start alone reads to end of file', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'hello' });
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 3 }))).toString()).toBe('lo');
    });

    it('start at or beyond end of file yields no bytes', async () => {
      const t = ctx.target();
      await makeTree(t, { 'r.txt': 'hello' });
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 5 }))).length).toBe(0);
      expect((await readAll(t.fs.createReadStream(t.join('r.txt'), { start: 50 }))).length).toBe(0);
    });

    it('a range in the middle of a large file matches the same slice', async () => {
      const t = ctx.target();
      const data = payload(LARGE, 11);
      await makeTree(t, { 'big.bin': data });
      const got = await readAll(
        t.fs.createReadStream(t.join('big.bin'), { start: 1_000_000, end: 2_000_000 }),
      );
      expect(got.length).toBe(1_000_001);
      expect(sha256(got)).toBe(sha256(data.subarray(1_000_000, 2_000_001)));
    });

    it('highWaterMark bounds chunk sizes', async () => {
      const t = ctx.target();
      const data = payload(10_000, 5);
      await makeTree(t, { 'h.bin': data });
      const sizes: number[] = [];
      const chunks: Buffer[] = [];
      for await (const chunk of t.fs.createReadStream(t.join('h.bin'), { highWaterMark: 1024 })) {
        sizes.push((chunk as Buffer).length);
        chunks.push(chunk as Buffer);
      }
      expect(sizes.length).toBeGreaterThanOrEqual(10);
      for (const s of sizes) expect(s).toBeLessThanOrEqual(1024);
      expect(Buffer.concat(chunks)).toEqual(data);
    });

    it('an encoding makes the stream emit strings', async () => {
      const t = ctx.target();
      await makeTree(t, { 'e.txt': 'ünï cödé ✓' });
      const chunks: unknown[] = [];
      for await (const chunk of t.fs.createReadStream(t.join('e.txt'), { encoding: 'utf8' }))
        chunks.push(chunk);
      for (const c of chunks) expect(typeof c).toBe('string');
      expect(chunks.join('')).toBe('ünï cödé ✓');
    });

    it('an empty file ends without data', async () => {
      const t = ctx.target();
      await makeTree(t, { empty: '' });
      const s = t.fs.createReadStream(t.join('empty'));
      let data = 0;
      s.on('data', () => data++);
      await once(s, 'end');
      expect(data).toBe(0);
    });

    it("a read stream emits 'end' before 'close'", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'abc' });
      const s = t.fs.createReadStream(t.join('f'));
      const events: string[] = [];
      s.on('end', () => events.push('end'));
      const closed = once(s, 'close').then(() => events.push('close'));
      s.resume();
      await closed;
      expect(events).toEqual(['end', 'close']);
    });

    it('the read stream path property is the path passed', async () => {
      const t = ctx.target();
      await makeTree(t, { 'p q.txt': 'x' });
      const s = t.fs.createReadStream(t.join('p q.txt'));
      expect(s.path).toBe(t.join('p q.txt'));
      await readAll(s);
    });

    it('two concurrent read streams of one file see the same bytes', async () => {
      const t = ctx.target();
      const data = payload(300_000, 8);
      await makeTree(t, { 'c.bin': data });
      const [a, b] = await Promise.all([
        readAll(t.fs.createReadStream(t.join('c.bin'))),
        readAll(t.fs.createReadStream(t.join('c.bin'), { highWaterMark: 4096 })),
      ]);
      expect(sha256(a)).toBe(sha256(data));
      expect(sha256(b)).toBe(sha256(data));
    });

    it("reading a missing file emits 'error' ENOENT with the path passed", async () => {
      const t = ctx.target();
      const p = t.join('missing.bin');
      const err = await streamError(t.fs.createReadStream(p));
      expect({ code: err.code, syscall: err.syscall, path: err.path }).toEqual({
        code: 'ENOENT',
        syscall: 'open',
        path: p,
      });
    });

    it("reading a directory emits 'error' EISDIR", async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const err = await streamError(t.fs.createReadStream(t.join('d')));
      expect(err.code).toBe('EISDIR');
    });

    it("createWriteStream writes data readable after 'finish' and 'close'", async () => {
      const t = ctx.target();
      const p = t.join('w.bin');
      const ws = t.fs.createWriteStream(p);
      const done = finishedAndClosed(ws);
      ws.write('hello ');
      ws.write(Buffer.from('binary '));
      ws.write(allBytes());
      ws.end();
      expect(await done).toEqual({ finished: true });
      expect(await t.fs.promises.readFile(p)).toEqual(
        Buffer.concat([Buffer.from('hello binary '), allBytes()]),
      );
    });

    it('bytesWritten counts every byte after finish', async () => {
      const t = ctx.target();
      const ws = t.fs.createWriteStream(t.join('n.bin'));
      const done = finishedAndClosed(ws);
      ws.write(payload(5000, 1));
      ws.end('ü');
      await done;
      expect(ws.bytesWritten).toBe(5002);
    });

    it('end() with no writes creates an empty file', async () => {
      const t = ctx.target();
      const ws = t.fs.createWriteStream(t.join('empty'));
      const done = finishedAndClosed(ws);
      ws.end();
      await done;
      expect((await t.fs.promises.stat(t.join('empty'))).size).toBe(0);
    });

    it('createWriteStream truncates an existing file by default', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'a much longer original content' });
      const ws = t.fs.createWriteStream(t.join('f'));
      const done = finishedAndClosed(ws);
      ws.end('new');
      await done;
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('new');
    });

    it("flags 'a' appends to an existing file", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'head,' });
      const ws = t.fs.createWriteStream(t.join('f'), { flags: 'a' });
      const done = finishedAndClosed(ws);
      ws.end('tail');
      await done;
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('head,tail');
    });

    it('a write stream to a unicode name', async () => {
      const t = ctx.target();
      await makeTree(t, { 'ü d/keep': 'k' });
      const p = t.join('ü d', 'ünï cödé ✓ #1+%.txt');
      const ws = t.fs.createWriteStream(p);
      const done = finishedAndClosed(ws);
      ws.end('unicode');
      await done;
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('unicode');
    });

    it("flags 'wx' onto an existing file emits EEXIST and keeps the content", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'keep' });
      const p = t.join('f');
      const err = await streamError(t.fs.createWriteStream(p, { flags: 'wx' }));
      expect({ code: err.code, syscall: err.syscall, path: err.path }).toEqual({
        code: 'EEXIST',
        syscall: 'open',
        path: p,
      });
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('keep');
    });

    itStrictDirs('writing under a missing parent emits ENOENT with the path passed', async () => {
      const t = ctx.target();
      const p = t.join('nodir', 'f');
      const err = await streamError(t.fs.createWriteStream(p));
      expect({ code: err.code, syscall: err.syscall, path: err.path }).toEqual({
        code: 'ENOENT',
        syscall: 'open',
        path: p,
      });
    });

    it('writing onto a directory emits EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const p = t.join('d');
      const err = await streamError(t.fs.createWriteStream(p));
      expect({ code: err.code, syscall: err.syscall, path: err.path }).toEqual({
        code: 'EISDIR',
        syscall: 'open',
        path: p,
      });
    });

    it('writing below a file emits ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const p = t.join('f', 'x');
      const err = await streamError(t.fs.createWriteStream(p));
      expect({ code: err.code, syscall: err.syscall, path: err.path }).toEqual({
        code: 'ENOTDIR',
        syscall: 'open',
        path: p,
      });
    });

    it('pipeline from a read stream to a write stream copies 3 MiB + 17 bytes (SHA-256)', async () => {
      const t = ctx.target();
      const data = payload(LARGE, 99);
      await makeTree(t, { 'src.bin': data, 'out/keep': 'k' });
      await pipeline(
        t.fs.createReadStream(t.join('src.bin')),
        t.fs.createWriteStream(t.join('out', 'dst.bin')),
      );
      const back = await t.fs.promises.readFile(t.join('out', 'dst.bin'));
      expect(back.length).toBe(LARGE);
      expect(sha256(back)).toBe(sha256(data));
    });

    it("write() returns false under backpressure and 'drain' follows", async () => {
      const t = ctx.target();
      const ws = t.fs.createWriteStream(t.join('bp.bin'), { highWaterMark: 16 * 1024 });
      const done = finishedAndClosed(ws);
      const chunk = payload(64 * 1024, 4);
      let writes = 0;
      let ok = true;
      while (ok && writes < 100) {
        ok = ws.write(chunk);
        writes++;
      }
      expect(ok).toBe(false);
      await once(ws, 'drain');
      ws.end();
      await done;
      expect((await t.fs.promises.stat(t.join('bp.bin'))).size).toBe(writes * chunk.length);
    });

    it('pipeline with an async generator source', async () => {
      const t = ctx.target();
      const parts = Array.from({ length: 20 }, (_, i) => payload(10_000 + i, i + 1));
      async function* source() {
        for (const p of parts) yield p;
      }
      await pipeline(Readable.from(source()), t.fs.createWriteStream(t.join('gen.bin')));
      expect(sha256(await t.fs.promises.readFile(t.join('gen.bin')))).toBe(sha256(Buffer.concat(parts)));
    });

    it('pipeline with an async generator transform between two fs streams', async () => {
      const t = ctx.target();
      await makeTree(t, { 'in.txt': 'abc'.repeat(10_000) });
      await pipeline(
        t.fs.createReadStream(t.join('in.txt'), { encoding: 'utf8' }),
        async function* (src: AsyncIterable<string>) {
          for await (const s of src) yield s.toUpperCase();
        },
        t.fs.createWriteStream(t.join('out.txt')),
      );
      expect(await t.fs.promises.readFile(t.join('out.txt'), 'utf8')).toBe('ABC'.repeat(10_000));
    });
  },
};
