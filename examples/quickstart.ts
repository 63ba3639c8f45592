/**
 * Quickstart: first a short `avfs` session on the default local store (created on first use under
 * the XDG config dir, `ARTIFACT_VFS_CONFIG_DIR` to move it): list the stores, copy a file in, list,
 * stat and read it back. Then the same store from code: save, list, read and copy artifacts, stream a
 * copy into memory through the scheme-routed `fileio`, and check every byte by SHA-256.
 *
 *   npm ci && npm run example
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileio, fs, getDefaultStore } from '../src/index.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

// 0. The CLI: `npx avfs …` runs the same program.
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const avfs = (...args: string[]): string => {
  console.log(`$ avfs ${args.join(' ')}`);
  const out = execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  process.stdout.write(out.replace(/^/gm, '  ').replace(/ +$/, ''));
  return out;
};
const scratch = mkdtempSync(join(tmpdir(), 'avfs-quickstart-'));
const sample = randomBytes(256 * 1024);
writeFileSync(join(scratch, 'sample.bin'), sample);
const session = `cli-${Date.now()}`;
avfs('artifact-store', 'list');
avfs('cp', join(scratch, 'sample.bin'), `default:${session}/sample.bin`);
avfs('ls', '-l', `default:${session}`);
const info = JSON.parse(avfs('stat', '--json', `default:${session}/sample.bin`)) as { size: number };
const back = execFileSync(process.execPath, [cli, 'cat', `default:${session}/sample.bin`]);
const cliOk = info.size === sample.length && sha256(back) === sha256(sample);
console.log(`cli     sample.bin ${info.size} bytes, read back with avfs cat: ${cliOk ? 'match' : 'DIFFER'}`);
avfs('rm', '-r', `default:${session}`);
rmSync(scratch, { recursive: true, force: true });

const store = await getDefaultStore();
console.log(`default store: ${store.flavor} at ${store.path}`);

// 1. Save a run's artifacts: a binary model (streamed in chunks) and JSON metrics.
const run = `runs/${new Date().toISOString().replace(/[:.]/g, '-')}`;
await store.makedirs(`${run}/model`);
const model = randomBytes(4 * 1024 * 1024);
const out = await store.open(`${run}/model/weights.bin`, 'wb');
for (let i = 0; i < model.length; i += 256 * 1024) await out.write(model.subarray(i, i + 256 * 1024));
await out.close(); // committed atomically: a crash before this line leaves no torn file
const metrics = JSON.stringify({ accuracy: 0.93, loss: 0.21, epochs: 12 });
const m = await store.open(`${run}/metrics.json`, 'w');
await m.write(metrics);
await m.close();
console.log(
  `saved   ${run}/model/weights.bin (${await store.size(`${run}/model/weights.bin`)} bytes, sha256 ${sha256(model)})`,
);

// 2. List: glob across every run, and walk this one.
const allMetrics = await store.glob('runs/**/metrics.json');
console.log(`listed  ${allMetrics.length} run(s) with metrics; this run holds:`);
for await (const [dir, , files] of store.walk(run)) {
  for (const f of files) console.log(`          ${dir.slice(store.path.length + 1)}/${f}`);
}

// 3. Read back and verify.
const readBack = (await (await store.open(`${run}/metrics.json`, 'r')).read()) as string;
const chunks: Buffer[] = [];
for await (const c of await store.open(`${run}/model/weights.bin`, 'rb')) chunks.push(c);
const same = sha256(Buffer.concat(chunks)) === sha256(model) && readBack === metrics;
console.log(`read    metrics ${readBack}; model bytes ${same ? 'match' : 'DIFFER'}`);

// 4. Copy: inside the store, then across stores (local -> memory) through the routing fileio.
await store.copyfile(`${run}/model/weights.bin`, `${run}/model/weights.backup.bin`);
await fs.promises.mkdir('mem://scratch/models', { recursive: true });
await fileio.copy(`${store.path}/${run}/model/weights.bin`, 'mem://scratch/models/weights.bin', true);
const inMemory = await fs.promises.readFile('mem://scratch/models/weights.bin');
console.log(
  `copied  to ${run}/model/weights.backup.bin and mem://scratch/models/weights.bin (sha256 ${sha256(inMemory)})`,
);

if (!cliOk || !same || sha256(inMemory) !== sha256(model)) {
  console.error('quickstart: verification failed');
  process.exit(1);
}
console.log('ok');
