/**
 * Quickstart: save, list, read and copy artifacts on the default local store (created on first use
 * under the XDG config dir, `ARTIFACT_VFS_CONFIG_DIR` to move it), then stream a copy into memory
 * through the scheme-routed `fileio`, and check every byte by SHA-256.
 *
 *   npm ci && npm run example
 */
import { createHash, randomBytes } from 'node:crypto';
import { fileio, fs, getDefaultStore } from '../src/index.js';

const sha256 = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex').slice(0, 16);

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

if (!same || sha256(inMemory) !== sha256(model)) {
  console.error('quickstart: verification failed');
  process.exit(1);
}
console.log('ok');
