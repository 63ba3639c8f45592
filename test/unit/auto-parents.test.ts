/**
 * Parents created on write (src/fs/auto-parents.ts; issue 13, item 11): a fresh `mem://NAME` volume
 * takes a write or a cross-mount copy with no mkdir, `mountMemory` on an object-store prefix lets
 * S3-style code write nested keys with no mkdir, and neither invents directories on reads or
 * hides node:fs's errors.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileio, fs } from '../../src/index.js';
import { mountMemory } from '../../src/testing/index.js';
import { rejection } from './helpers.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'avfs-parents-'));
});
afterAll(async () => rm(tmp, { recursive: true, force: true }));

describe('mem:// volumes', () => {
  it('a fresh volume takes a write and a cross-mount copy, with the caller paths in errors', async () => {
    const vol = `mem://v-${randomUUID().slice(0, 8)}`;
    await fs.promises.writeFile(`${vol}/a.txt`, 'a');
    expect(await fs.promises.readFile(`${vol}/a.txt`, 'utf8')).toBe('a');
    const local = path.join(tmp, 'model.bin');
    await writeFile(local, 'weights');
    const vol2 = `mem://v-${randomUUID().slice(0, 8)}`;
    await fileio.copy(local, `${vol2}/model.bin`, true);
    expect(await fs.promises.readFile(`${vol2}/model.bin`, 'utf8')).toBe('weights');
    // Only the volume is implicit: deeper directories follow node:fs.
    const err = await rejection(fs.promises.writeFile(`${vol}/no/such/dir.txt`, 'x'));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain(`${vol}/no/such/dir.txt`);
    expect(err.message).not.toMatch(/partial/);
  });

  it('reads do not create the volume', async () => {
    const vol = `mem://v-${randomUUID().slice(0, 8)}`;
    expect((await rejection(fs.promises.readdir(vol))).code).toBe('ENOENT');
    expect((await rejection(fs.promises.stat(`${vol}/x`))).code).toBe('ENOENT');
    expect(fs.existsSync(vol)).toBe(false);
  });
});

describe('mountMemory on an object-store prefix', () => {
  it('lets S3-style code write nested keys with no mkdir; toJSON shows them', async () => {
    const bucket = mountMemory('s3://parents-bucket');
    try {
      await fs.promises.writeFile('s3://parents-bucket/out/deep/result.json', '{"ok":true}');
      const w = fs.createWriteStream('s3://parents-bucket/logs/run/1.log');
      w.end('line\n');
      await new Promise<void>((resolve, reject) => w.on('close', () => resolve()).on('error', reject));
      expect(bucket.toJSON()).toEqual({
        's3://parents-bucket/out/deep/result.json': '{"ok":true}',
        's3://parents-bucket/logs/run/1.log': 'line\n',
      });
      // A file in the way is still node:fs's ENOTDIR, and nothing is created.
      const err = await rejection(fs.promises.writeFile('s3://parents-bucket/out/deep/result.json/x', 'x'));
      expect(err.code).toBe('ENOTDIR');
    } finally {
      bucket.unmount();
    }
  });

  it("directories: 'explicit' keeps node:fs's rule, as plain-path mounts do by default", async () => {
    const strict = mountMemory('s3://parents-strict', { directories: 'explicit' });
    const plain = mountMemory(path.join(tmp, 'plain-mount'));
    try {
      expect((await rejection(fs.promises.writeFile('s3://parents-strict/a/b.txt', 'x'))).code).toBe(
        'ENOENT',
      );
      expect((await rejection(fs.promises.writeFile(path.join(tmp, 'plain-mount/a/b.txt'), 'x'))).code).toBe(
        'ENOENT',
      );
    } finally {
      strict.unmount();
      plain.unmount();
    }
  });
});
