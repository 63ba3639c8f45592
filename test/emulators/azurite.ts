/**
 * azurite (npm devDependency) as a Blob service on 127.0.0.1 with a random port, in memory, in its
 * own process (it holds every blob in RAM; a separate process keeps that memory and CPU apart from
 * the client being tested or measured). Dev account `devstoreaccount1` with the well-known public
 * dev key.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer, connect } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const AZURITE_ACCOUNT = 'devstoreaccount1';
/** The public development key every Azure Storage emulator accepts (documented by Microsoft). */
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface Azurite {
  /** `http://127.0.0.1:PORT/devstoreaccount1`: the blob service URL (path-style account). */
  endpoint: string;
  port: number;
  pid: number;
  accountName: string;
  accountKey: string;
  connectionString: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The path of azurite's blob entry point, from the installed package. */
export function azuriteMain(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
}

/**
 * Starts azurite's blob service. `extraArgs` go to azurite as they are. Retries on another port if
 * the chosen one was taken between probing and binding.
 */
export async function startAzurite(extraArgs: string[] = []): Promise<Azurite> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      process.execPath,
      [
        azuriteMain(),
        '--blobHost',
        '127.0.0.1',
        '--blobPort',
        String(port),
        '--inMemoryPersistence',
        '--skipApiVersionCheck',
        '--disableTelemetry',
        '--silent',
        ...extraArgs,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
    let exited = false;
    child.once('exit', () => (exited = true));
    const deadline = Date.now() + 20_000;
    while (!exited && Date.now() < deadline) {
      if (await reachable(port)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (exited || Date.now() >= deadline) {
      child.kill('SIGKILL');
      lastError = exited ? `azurite exited: ${stderr.trim()}` : 'azurite did not listen within 20 s';
      continue;
    }
    const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    let stopped = false;
    return {
      endpoint,
      port,
      pid: child.pid!,
      accountName: AZURITE_ACCOUNT,
      accountKey: AZURITE_KEY,
      connectionString:
        `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};` +
        `BlobEndpoint=${endpoint};`,
      async stop() {
        if (stopped || exited) return;
        stopped = true;
        const gone = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      },
    };
  }
  throw new Error(`could not start azurite: ${lastError}`);
}

/** Creates a container on `azurite` through a short-lived SDK client. */
export async function createContainer(azurite: Azurite, name: string): Promise<void> {
  const { BlobServiceClient } = await import('@azure/storage-blob');
  await BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(name).create();
}
