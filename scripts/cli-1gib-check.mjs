#!/usr/bin/env node
// The CLI's memory acceptance check at full size: `avfs cp` of a 1 GiB file between two local
// stores, and through S3 (fauxqs, in this process) with --s3, must keep the avfs process's peak RSS
// under 256 MiB and the SHA-256 unchanged. Peak RSS is the process's VmHWM, written by a
// preload when avfs exits. Run `npm run build` first.
//
//   node scripts/cli-1gib-check.mjs [--size-mib 1024] [--s3] [--cli dist/src/cli/main.js]
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const MiB = 1024 * 1024;
const size = Number(flag('--size-mib', '1024')) * MiB;
const cli = path.resolve(root, flag('--cli', 'dist/src/cli/main.js'));
const LIMIT = 256 * MiB;
if (!existsSync(cli)) {
  console.error(`cli-1gib-check: ${cli} is missing; run npm run build first`);
  process.exit(2);
}

const tmp = await mkdtemp(path.join(tmpdir(), 'avfs-1gib-'));
const cfg = path.join(tmp, 'cfg');
const PRELOAD =
  // VmHWM, not resourceUsage().maxRSS: on Linux maxRSS carries the parent's peak across fork+exec.
  "data:text/javascript,import{readFileSync,writeFileSync}from'node:fs';process.on('exit',()=>{let b;try{b=Number(/VmHWM:\\s*(\\d+)/.exec(readFileSync('/proc/self/status','utf8'))[1])*1024}catch{b=process.resourceUsage().maxRSS*1024}writeFileSync(process.env.AVFS_RSS_FILE,String(b))})";

function avfs(argv, env = {}) {
  const rssFile = path.join(tmp, `rss-${Math.random().toString(16).slice(2)}`);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [`--import=${PRELOAD}`, cli, ...argv], {
      env: {
        ...process.env,
        ARTIFACT_VFS_CONFIG_DIR: cfg,
        AVFS_RSS_FILE: rssFile,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('error', reject);
    child.on('close', async (code) => {
      const rss = Number(await readFile(rssFile, 'utf8').catch(() => 'NaN'));
      resolve({ code, rss, seconds: (Date.now() - started) / 1000 });
    });
  });
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c);
  return h.digest('hex');
}

let failed = false;
function check(label, r, dstFile, want) {
  return sha256(dstFile).then((got) => {
    const ok = r.code === 0 && r.rss < LIMIT && got === want;
    failed ||= !ok;
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${label}: exit ${r.code}, peak RSS ${(r.rss / MiB).toFixed(1)} MiB (limit 256), ` +
        `${(size / MiB / r.seconds).toFixed(0)} MiB/s, sha256 ${got === want ? 'unchanged' : `CHANGED (${got})`}`,
    );
  });
}

let server;
try {
  const source = path.join(tmp, 'source.bin');
  const f = await open(source, 'w');
  for (let done = 0; done < size; done += 8 * MiB) await f.write(randomBytes(Math.min(8 * MiB, size - done)));
  await f.close();
  const want = await sha256(source);
  console.log(`source: ${(size / MiB).toFixed(0)} MiB, sha256 ${want}`);
  for (const name of ['one', 'two'])
    await avfs(['store', 'register', name, '--flavor', 'local', '--path', path.join(tmp, name)]);
  await avfs(['cp', source, 'one:source.bin']);
  await check(
    'cp one:source.bin two:copy.bin',
    await avfs(['cp', 'one:source.bin', 'two:copy.bin']),
    path.join(tmp, 'two/copy.bin'),
    want,
  );

  if (args.includes('--s3')) {
    const { buildApp } = await import('fauxqs');
    const { S3Client, CreateBucketCommand } = await import('@aws-sdk/client-s3');
    server = buildApp({ logger: false });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const endpoint = `http://127.0.0.1:${server.server.address().port}`;
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    await client.send(new CreateBucketCommand({ Bucket: 'check' }));
    client.destroy();
    await avfs([
      'store',
      'register',
      'b',
      '--flavor',
      's3',
      '--path',
      's3://check/p',
      `--endpoint=${endpoint}`,
      '--region=us-east-1',
      '--forcePathStyle=true',
      '--trustedEndpoint=true',
      '--conditionalWrites=false',
      '--uploadPartCopy=false',
      '--checksum=metadata',
      '--partSize=5242880',
      '--accessKeyId=a',
      '--secretAccessKey=b',
    ]);
    const up = await avfs(['cp', 'one:source.bin', 'b:big.bin']);
    const down = await avfs(['cp', 'b:big.bin', 'two:from-s3.bin']);
    console.log(
      `     upload to s3: exit ${up.code}, peak RSS ${(up.rss / MiB).toFixed(1)} MiB, ${(size / MiB / up.seconds).toFixed(0)} MiB/s`,
    );
    failed ||= up.code !== 0 || up.rss >= LIMIT;
    await check('cp one:source.bin -> s3 -> two:from-s3.bin', down, path.join(tmp, 'two/from-s3.bin'), want);
  }
} finally {
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
