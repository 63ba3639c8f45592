import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import { allBytes, expectFsError, itIf, makeTree, payload, readAll, sha256 } from './helpers.js';

export const topic: Topic = {
  name: 'file-handle',
  declare(ctx) {
    const { caps } = ctx;
    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    const itRandom = itIf(caps.randomAccessWrites, 'only sequential writes are supported by this target');

    it('read(buffer, offset, length, position) fills the buffer at the offset', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'hello world' });
      const h = await t.fs.promises.open(t.join('f'), 'r');
      try {
        const buf = Buffer.alloc(10, 0x2e);
        const r = await h.read(buf, 2, 5, 6);
        expect(r.bytesRead).toBe(5);
        expect(r.buffer).toBe(buf);
        expect(buf.toString()).toBe('..world...');
      } finally {
        await h.close();
      }
    });

    it('reads with position null advance sequentially, then report 0 at end of file', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'abcdefgh' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        const buf = Buffer.alloc(3);
        const got: string[] = [];
        for (;;) {
          const { bytesRead } = await h.read(buf, 0, 3, null);
          if (bytesRead === 0) break;
          got.push(buf.subarray(0, bytesRead).toString());
        }
        expect(got).toEqual(['abc', 'def', 'gh']);
      } finally {
        await h.close();
      }
    });

    it('a read at or past end of file returns bytesRead 0', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'abc' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        expect((await h.read(Buffer.alloc(4), 0, 4, 3)).bytesRead).toBe(0);
        expect((await h.read(Buffer.alloc(4), 0, 4, 1000)).bytesRead).toBe(0);
      } finally {
        await h.close();
      }
    });

    it('a read that crosses end of file returns the bytes available', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'abcdef' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        const buf = Buffer.alloc(10);
        const { bytesRead } = await h.read(buf, 0, 10, 4);
        expect(bytesRead).toBe(2);
        expect(buf.subarray(0, 2).toString()).toBe('ef');
      } finally {
        await h.close();
      }
    });

    it('read({ buffer, position }) options form', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'hello world' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        const r = await h.read({ buffer: Buffer.alloc(3), position: 6 });
        expect(r.bytesRead).toBe(3);
        expect(r.buffer.toString()).toBe('wor');
      } finally {
        await h.close();
      }
    });

    it('positional reads of binary data at arbitrary offsets', async () => {
      const t = ctx.target();
      const data = payload(200_000, 21);
      await makeTree(t, { 'b.bin': data });
      const h = await t.fs.promises.open(t.join('b.bin'));
      try {
        for (const pos of [0, 1, 65_535, 65_536, 150_000, 199_990]) {
          const buf = Buffer.alloc(100);
          const { bytesRead } = await h.read(buf, 0, 100, pos);
          expect(bytesRead).toBe(Math.min(100, data.length - pos));
          expect(buf.subarray(0, bytesRead)).toEqual(data.subarray(pos, pos + bytesRead));
        }
      } finally {
        await h.close();
      }
    });

    it('readFile on a handle returns the whole content (Buffer or string)', async () => {
      const t = ctx.target();
      await makeTree(t, { 'a.bin': allBytes(), 'u.txt': 'ünï' });
      const h = await t.fs.promises.open(t.join('a.bin'));
      try {
        expect(await h.readFile()).toEqual(allBytes());
      } finally {
        await h.close();
      }
      const u = await t.fs.promises.open(t.join('u.txt'));
      try {
        expect(await u.readFile('utf8')).toBe('ünï');
      } finally {
        await u.close();
      }
    });

    it('stat on a handle reports a file and its size', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'twelve bytes' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        const s = await h.stat();
        expect(s.isFile()).toBe(true);
        expect(s.size).toBe(12);
      } finally {
        await h.close();
      }
    });

    it('sequential writes land in order and are readable after close', async () => {
      const t = ctx.target();
      const p = t.join('w.bin');
      const h = await t.fs.promises.open(p, 'w');
      try {
        const a = await h.write(Buffer.from('abc'));
        expect(a.bytesWritten).toBe(3);
        const b = await h.write('dëf');
        expect(b.bytesWritten).toBe(4);
        await h.write(allBytes());
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(p)).toEqual(Buffer.concat([Buffer.from('abcdëf'), allBytes()]));
    });

    it('write(buffer, offset, length) writes only that slice', async () => {
      const t = ctx.target();
      const p = t.join('slice');
      const h = await t.fs.promises.open(p, 'w');
      try {
        const r = await h.write(Buffer.from('0123456789'), 2, 5);
        expect(r.bytesWritten).toBe(5);
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('23456');
    });

    it('writeFile on a handle writes the content', async () => {
      const t = ctx.target();
      const p = t.join('hw.txt');
      const h = await t.fs.promises.open(p, 'w');
      try {
        await h.writeFile('handle writeFile');
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('handle writeFile');
    });

    it('sequential writes of 2 MiB in chunks keep their SHA-256', async () => {
      const t = ctx.target();
      const data = payload(2 * 1024 * 1024 + 1, 77);
      const p = t.join('chunks.bin');
      const h = await t.fs.promises.open(p, 'w');
      try {
        for (let off = 0; off < data.length; off += 100_000) await h.write(data.subarray(off, off + 100_000));
      } finally {
        await h.close();
      }
      expect(sha256(await t.fs.promises.readFile(p))).toBe(sha256(data));
    });

    it("'w' truncates an existing file", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'old and long content' });
      const h = await t.fs.promises.open(t.join('f'), 'w');
      try {
        await h.write('new');
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('new');
    });

    it("'w' with no writes leaves an empty file", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'content' });
      const h = await t.fs.promises.open(t.join('f'), 'w');
      await h.close();
      expect((await t.fs.promises.stat(t.join('f'))).size).toBe(0);
      const n = await t.fs.promises.open(t.join('new'), 'w');
      await n.close();
      expect((await t.fs.promises.stat(t.join('new'))).size).toBe(0);
    });

    it("'a' appends to the existing content", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'start,' });
      const h = await t.fs.promises.open(t.join('f'), 'a');
      try {
        await h.write('more,');
        await h.write('end');
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('start,more,end');
    });

    it("'wx' creates a new file", async () => {
      const t = ctx.target();
      const h = await t.fs.promises.open(t.join('x'), 'wx');
      try {
        await h.write('exclusive');
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(t.join('x'), 'utf8')).toBe('exclusive');
    });

    it("'wx' on an existing file rejects with EEXIST", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'keep' });
      const p = t.join('f');
      await expectFsError(t.fs.promises.open(p, 'wx'), { code: 'EEXIST', syscall: 'open', path: p });
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('keep');
    });

    it("'r' (and the default flag) on a missing file rejects with ENOENT", async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(t.fs.promises.open(p, 'r'), { code: 'ENOENT', syscall: 'open', path: p });
      await expectFsError(t.fs.promises.open(p), { code: 'ENOENT', syscall: 'open', path: p });
    });

    itStrictDirs("'w' under a missing parent rejects with ENOENT", async () => {
      const t = ctx.target();
      const p = t.join('nodir', 'f');
      await expectFsError(t.fs.promises.open(p, 'w'), { code: 'ENOENT', syscall: 'open', path: p });
    });

    it("'w' on a directory rejects with EISDIR", async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.open(p, 'w'), { code: 'EISDIR', syscall: 'open', path: p });
    });

    it('handle.createReadStream streams a range', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'hello world' });
      const h = await t.fs.promises.open(t.join('f'));
      try {
        const got = await readAll(h.createReadStream({ start: 6, end: 10 }));
        expect(got.toString()).toBe('world');
      } finally {
        await h.close();
      }
    });

    it('operations on a closed handle reject with EBADF', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'abc' });
      const h = await t.fs.promises.open(t.join('f'));
      await h.close();
      await expectFsError(h.read(Buffer.alloc(1), 0, 1, 0), { code: 'EBADF', syscall: 'read' });
      await expectFsError(h.stat(), { code: 'EBADF', syscall: 'fstat' });
    });

    itRandom('positional writes overwrite in place', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'hello world' });
      const h = await t.fs.promises.open(t.join('f'), 'r+');
      try {
        await h.write('WORLD', 6);
        await h.write('J', 0);
      } finally {
        await h.close();
      }
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('Jello WORLD');
    });

    itRandom('a positional write beyond end of file zero-fills the gap', async () => {
      const t = ctx.target();
      const p = t.join('gap');
      const h = await t.fs.promises.open(p, 'w');
      try {
        await h.write('ab');
        await h.write(Buffer.from('Z'), 0, 1, 6);
      } finally {
        await h.close();
      }
      expect([...(await t.fs.promises.readFile(p))]).toEqual([0x61, 0x62, 0, 0, 0, 0, 0x5a]);
    });

    itRandom("'w+' writes then reads back through the same handle", async () => {
      const t = ctx.target();
      const h = await t.fs.promises.open(t.join('wp'), 'w+');
      try {
        await h.write('read me back');
        const buf = Buffer.alloc(12);
        const { bytesRead } = await h.read(buf, 0, 12, 0);
        expect(buf.subarray(0, bytesRead).toString()).toBe('read me back');
      } finally {
        await h.close();
      }
    });
  },
};
