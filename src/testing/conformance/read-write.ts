import { expect, it } from 'vitest';
import type { Topic } from './types.js';
import {
  allBytes,
  expectFsError,
  expectThrows,
  fromCallback,
  itIf,
  makeTree,
  payload,
  sha256,
  sorted,
} from './helpers.js';

export const topic: Topic = {
  name: 'read-write',
  declare(ctx) {
    const { caps } = ctx;
    const itSync = itIf(caps.sync, 'sync methods unsupported by this target');
    const itStrictDirs = itIf(
      caps.emptyDirectories,
      'directories are implicit on this target (no markers): a write creates its parents, an empty directory does not exist',
    );
    const itNoSync = itIf(!caps.sync, 'target supports sync methods');

    it('writeFile of a string; readFile returns a Buffer, or a string with an encoding', async () => {
      const t = ctx.target();
      const p = t.join('s.txt');
      await expect(t.fs.promises.writeFile(p, 'héllo wörld ✓')).resolves.toBeUndefined();
      const buf = await t.fs.promises.readFile(p);
      expect(Buffer.isBuffer(buf)).toBe(true);
      expect(buf).toEqual(Buffer.from('héllo wörld ✓', 'utf8'));
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('héllo wörld ✓');
      expect(await t.fs.promises.readFile(p, { encoding: 'utf8' })).toBe('héllo wörld ✓');
    });

    it('writeFile of a Buffer round-trips', async () => {
      const t = ctx.target();
      const data = Buffer.from([0, 1, 2, 253, 254, 255]);
      await t.fs.promises.writeFile(t.join('b.bin'), data);
      expect(await t.fs.promises.readFile(t.join('b.bin'))).toEqual(data);
    });

    it('writeFile of a Uint8Array round-trips', async () => {
      const t = ctx.target();
      const data = new Uint8Array([9, 8, 7, 0, 255, 128]);
      await t.fs.promises.writeFile(t.join('u.bin'), data);
      expect([...(await t.fs.promises.readFile(t.join('u.bin')))]).toEqual([...data]);
    });

    it('all 256 byte values round-trip exactly', async () => {
      const t = ctx.target();
      await t.fs.promises.writeFile(t.join('all.bin'), allBytes());
      const back = await t.fs.promises.readFile(t.join('all.bin'));
      expect(back.length).toBe(256);
      expect(back).toEqual(allBytes());
      expect(sha256(back)).toBe('40aff2e9d2d8922e47afd4648e6967497158785fbd1da870e7110266bf944880');
    });

    it('a 1 MiB pseudo-random payload round-trips (SHA-256)', async () => {
      const t = ctx.target();
      const data = payload(1024 * 1024 + 5, 42);
      await t.fs.promises.writeFile(t.join('big.bin'), data);
      const back = await t.fs.promises.readFile(t.join('big.bin'));
      expect(back.length).toBe(data.length);
      expect(sha256(back)).toBe(sha256(data));
    });

    it('base64 encoding on write and read', async () => {
      const t = ctx.target();
      const p = t.join('b64');
      await t.fs.promises.writeFile(p, 'aGVsbG8gd29ybGQ=', 'base64');
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('hello world');
      await t.fs.promises.writeFile(p, allBytes());
      expect(await t.fs.promises.readFile(p, 'base64')).toBe(allBytes().toString('base64'));
    });

    it('hex encoding on write and read', async () => {
      const t = ctx.target();
      const p = t.join('hex');
      await t.fs.promises.writeFile(p, '00ff10ab', { encoding: 'hex' });
      expect([...(await t.fs.promises.readFile(p))]).toEqual([0x00, 0xff, 0x10, 0xab]);
      expect(await t.fs.promises.readFile(p, 'hex')).toBe('00ff10ab');
    });

    it('latin1 encoding writes one byte per character', async () => {
      const t = ctx.target();
      const p = t.join('latin1');
      await t.fs.promises.writeFile(p, 'héllo', 'latin1');
      expect([...(await t.fs.promises.readFile(p))]).toEqual([0x68, 0xe9, 0x6c, 0x6c, 0x6f]);
      expect(await t.fs.promises.readFile(p, 'latin1')).toBe('héllo');
    });

    it('an empty file reads back as zero bytes', async () => {
      const t = ctx.target();
      await t.fs.promises.writeFile(t.join('empty'), '');
      expect((await t.fs.promises.readFile(t.join('empty'))).length).toBe(0);
      expect(await t.fs.promises.readFile(t.join('empty'), 'utf8')).toBe('');
      await t.fs.promises.writeFile(t.join('empty2'), Buffer.alloc(0));
      expect((await t.fs.promises.stat(t.join('empty2'))).size).toBe(0);
    });

    it('overwriting with shorter content truncates', async () => {
      const t = ctx.target();
      const p = t.join('o.txt');
      await t.fs.promises.writeFile(p, 'a long first version');
      await t.fs.promises.writeFile(p, 'short');
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('short');
      await t.fs.promises.writeFile(p, '');
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('');
    });

    it("flag 'wx' creates a new file", async () => {
      const t = ctx.target();
      await t.fs.promises.writeFile(t.join('new'), 'fresh', { flag: 'wx' });
      expect(await t.fs.promises.readFile(t.join('new'), 'utf8')).toBe('fresh');
    });

    it("flag 'wx' on an existing file rejects with EEXIST and keeps the content", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'original' });
      const p = t.join('f');
      await expectFsError(t.fs.promises.writeFile(p, 'x', { flag: 'wx' }), {
        code: 'EEXIST',
        syscall: 'open',
        path: p,
      });
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('original');
    });

    it("flag 'a' appends to an existing file and creates a missing one", async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'one,' });
      await t.fs.promises.writeFile(t.join('f'), 'two', { flag: 'a' });
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('one,two');
      await t.fs.promises.writeFile(t.join('g'), 'g', { flag: 'a' });
      expect(await t.fs.promises.readFile(t.join('g'), 'utf8')).toBe('g');
    });

    it('appendFile creates the file, then appends strings and Buffers', async () => {
      const t = ctx.target();
      const p = t.join('log.txt');
      await expect(t.fs.promises.appendFile(p, 'a')).resolves.toBeUndefined();
      await t.fs.promises.appendFile(p, Buffer.from('b'));
      await t.fs.promises.appendFile(p, 'ü');
      expect(await t.fs.promises.readFile(p, 'utf8')).toBe('abü');
    });

    it('appendFile onto binary content keeps every byte', async () => {
      const t = ctx.target();
      const p = t.join('bin');
      await t.fs.promises.writeFile(p, allBytes());
      await t.fs.promises.appendFile(p, allBytes());
      expect(await t.fs.promises.readFile(p)).toEqual(Buffer.concat([allBytes(), allBytes()]));
    });

    it('readFile of a missing file rejects with ENOENT (syscall open)', async () => {
      const t = ctx.target();
      const p = t.join('missing.txt');
      await expectFsError(t.fs.promises.readFile(p), { code: 'ENOENT', syscall: 'open', path: p });
    });

    it('readFile of a directory rejects with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      await expectFsError(t.fs.promises.readFile(t.join('d')), { code: 'EISDIR' });
    });

    itStrictDirs('writeFile under a missing parent rejects with ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('nodir', 'f.txt');
      await expectFsError(t.fs.promises.writeFile(p, 'x'), { code: 'ENOENT', syscall: 'open', path: p });
      await expectFsError(t.fs.promises.stat(t.join('nodir')), { code: 'ENOENT' });
    });

    it('writeFile whose parent is a file rejects with ENOTDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { f: 'f' });
      const p = t.join('f', 'child.txt');
      await expectFsError(t.fs.promises.writeFile(p, 'x'), { code: 'ENOTDIR', syscall: 'open', path: p });
      expect(await t.fs.promises.readFile(t.join('f'), 'utf8')).toBe('f');
    });

    it('writeFile and appendFile onto a directory reject with EISDIR', async () => {
      const t = ctx.target();
      await makeTree(t, { 'd/x': 'x' });
      const p = t.join('d');
      await expectFsError(t.fs.promises.writeFile(p, 'x'), { code: 'EISDIR', syscall: 'open', path: p });
      await expectFsError(t.fs.promises.appendFile(p, 'x'), { code: 'EISDIR', syscall: 'open', path: p });
      expect(await t.fs.promises.readdir(p)).toEqual(['x']);
    });

    it('unicode names and names with spaces, +, % and # hold distinct contents', async () => {
      const t = ctx.target();
      const names = [
        'ünï cödé ✓.txt',
        'a b.txt',
        'a+b.txt',
        'a%20b.txt',
        'a%2Fb.txt',
        'a#b.txt',
        '?q=1&r.txt',
      ];
      for (const n of names) await t.fs.promises.writeFile(t.join(n), `content of ${n}`);
      for (const n of names) expect(await t.fs.promises.readFile(t.join(n), 'utf8')).toBe(`content of ${n}`);
      expect(sorted(await t.fs.promises.readdir(t.root))).toEqual(sorted(names));
    });

    it('concurrent writes to distinct files all land', async () => {
      const t = ctx.target();
      await t.fs.promises.mkdir(t.join('c'));
      const ids = Array.from({ length: 25 }, (_, i) => i);
      await Promise.all(
        ids.map((i) => t.fs.promises.writeFile(t.join('c', `f${i}`), payload(1000 + i, i + 1))),
      );
      for (const i of ids) {
        expect(sha256(await t.fs.promises.readFile(t.join('c', `f${i}`)))).toBe(
          sha256(payload(1000 + i, i + 1)),
        );
      }
    });

    it('callback writeFile, appendFile and readFile', async () => {
      const t = ctx.target();
      const p = t.join('cb.txt');
      await fromCallback((cb) => t.fs.writeFile(p, 'call', cb));
      await fromCallback((cb) => t.fs.appendFile(p, 'back', cb));
      expect(await fromCallback<string>((cb) => t.fs.readFile(p, 'utf8', cb))).toBe('callback');
      const buf = await fromCallback<Buffer>((cb) => t.fs.readFile(p, cb));
      expect(buf).toEqual(Buffer.from('callback'));
    });

    it('callback readFile of a missing file passes ENOENT', async () => {
      const t = ctx.target();
      const p = t.join('missing');
      await expectFsError(
        fromCallback((cb) => t.fs.readFile(p, cb)),
        { code: 'ENOENT', syscall: 'open', path: p },
      );
    });

    itSync('writeFileSync, appendFileSync and readFileSync', () => {
      const t = ctx.target();
      const p = t.join('sync.bin');
      t.fs.writeFileSync(p, allBytes());
      t.fs.appendFileSync(p, 'tail');
      const back = t.fs.readFileSync(p);
      expect(back.subarray(0, 256)).toEqual(allBytes());
      expect(back.subarray(256).toString()).toBe('tail');
      expect(t.fs.readFileSync(p, 'base64')).toBe(back.toString('base64'));
      expectThrows(() => t.fs.readFileSync(t.join('missing')), {
        code: 'ENOENT',
        syscall: 'open',
        path: t.join('missing'),
      });
    });

    itNoSync('readFileSync throws ENOTSUP naming promises.readFile', () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.readFileSync(t.join('x')), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.readFile');
    });

    itNoSync('writeFileSync throws ENOTSUP naming promises.writeFile and writes nothing', async () => {
      const t = ctx.target();
      const err = expectThrows(() => t.fs.writeFileSync(t.join('x'), 'x'), { code: 'ENOTSUP' });
      expect(err.message).toContain('promises.writeFile');
      await expectFsError(t.fs.promises.stat(t.join('x')), { code: 'ENOENT' });
    });
  },
};
