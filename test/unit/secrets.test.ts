/**
 * Secrets in error causes (issue 13 item 4), the AWS SDK's Node-version warning (item 10) and
 * errors that name their cause (item 12): real SDK errors from fauxqs and azurite-free fixtures,
 * real socket and crypto errors, and the config validation of endpoint URLs.
 */
import { createSign, randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import { inspect } from 'node:util';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapAzureError } from '../../adapters/azure/errors.js';
import { azureFlavor } from '../../adapters/azure/index.js';
import { mapGcsError } from '../../adapters/gcs/errors.js';
import { gcsFlavor } from '../../adapters/gcs/index.js';
import { mapS3Error } from '../../adapters/s3/errors.js';
import { s3Flavor, withoutSdkNodeWarning } from '../../adapters/s3/index.js';
import { fsError } from '../../src/core/errors.js';
import { cleanCause, redactText, REDACTED, registerSecret } from '../../src/core/secrets.js';
import { createStore } from '../../src/index.js';
import { validateConfig, type Flavor } from '../../src/store/flavor.js';
import { startFaultProxy, type FaultProxy } from '../emulators/fault-proxy.js';
import { startFauxqs } from '../emulators/fauxqs.js';
import type { S3Server } from '../emulators/s3-server.js';

const canary = (tag: string): string => `cnry-${tag}-${randomBytes(8).toString('hex')}`;
/** Everything a deep serializer or `util.inspect` could show of an error. */
const everything = (err: unknown): string =>
  `${String(err)}\n${(err as Error).stack}\n${inspect(err, { showHidden: true, depth: Infinity, getters: true })}\n${JSON.stringify(err)}`;

async function refusedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('a provider error keeps no secret in its cause (item 4)', () => {
  let server: S3Server;
  let proxy: FaultProxy;
  beforeAll(async () => {
    server = await startFauxqs();
    await server.createBucket('b');
    proxy = await startFaultProxy(server.endpoint);
    proxy.setRules([
      {
        match: () => true,
        fault: {
          kind: 'status',
          status: 403,
          body: '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied</Message><RequestId>RID-42</RequestId></Error>',
        },
        times: 1e9,
      },
    ]);
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('a real S3 403: no signed request, Credential= or session token anywhere; status and request id kept', async () => {
    // Not registered: the access key id and token of the SDK's default chain never are.
    const akid = canary('akid');
    const token = canary('token');
    const client = new S3Client({
      endpoint: proxy.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      maxAttempts: 1,
      credentials: { accessKeyId: akid, secretAccessKey: 'not-registered-secret', sessionToken: token },
    });
    const raw = await client.send(new GetObjectCommand({ Bucket: 'b', Key: 'k' })).catch((e: unknown) => e);
    client.destroy();
    // The SDK error does carry the signed request: what the issue found.
    expect(inspect(raw, { showHidden: true, depth: Infinity })).toContain(token);
    const err = mapS3Error(raw, { syscall: 'open', path: 's3://b/k' });
    expect(err.code).toBe('EACCES');
    expect(err.cause).toBe(raw);
    const text = everything(err);
    expect(text).not.toContain(akid);
    expect(text).not.toContain(token);
    expect(text).not.toContain('not-registered-secret');
    expect(text).not.toMatch(/_header|x-amz-security-token:/i);
    const cause = err.cause as { name: string; $metadata: { httpStatusCode: number; requestId?: string } };
    expect(cause.name).toBe('AccessDenied');
    expect(cause.$metadata.httpStatusCode).toBe(403);
    expect(cause.$metadata.requestId).toBe('RID-42');
  });

  it("a custom flavor's error: headers by name, hidden, Symbol-keyed, getter, Map, array and cyclic properties", () => {
    const secret = canary('registered');
    registerSecret(secret);
    const unregistered = canary('bearer');
    class VendorError extends Error {
      request = {
        url: `https://api.example/x?sig=${unregistered}`,
        headers: { authorization: `Bearer ${unregistered}` },
      };
      auth = { authorization: unregistered, 'x-ms-encryption-key': unregistered, cookie: unregistered };
      items = [new Map([['note', `token ${secret}`]])];
      self = this;
    }
    const vendor = new VendorError(`failed with key ${secret}`);
    Object.defineProperty(vendor, 'hidden', { value: { deep: { deeper: [secret] } }, enumerable: false });
    (vendor as unknown as Record<symbol, string>)[Symbol('k')] = secret;
    Object.defineProperty(vendor, 'lazy', {
      get: () => `lazy ${secret}`,
      enumerable: true,
      configurable: true,
    });
    const err = fsError('EIO', { syscall: 'read', path: 'x://b/k', cause: vendor });
    expect(err.cause).toBe(vendor);
    expect(err.cause).toBeInstanceOf(VendorError);
    const text = everything(err);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(unregistered);
    expect(vendor.message).toBe(`failed with key ${REDACTED}`);
    expect(vendor.auth.authorization).toBe(REDACTED);
    expect('request' in vendor).toBe(false);
    expect((vendor.items[0] as Map<string, string>).get('note')).toBe(`token ${REDACTED}`);
  });

  it('a frozen cause holding a secret is replaced by a clean copy of the same class', () => {
    const secret = canary('frozen');
    registerSecret(secret);
    class Locked extends Error {}
    const frozen = Object.freeze(Object.assign(new Locked(`boom ${secret}`), { code: 'E_LOCKED' }));
    const err = fsError('EIO', { cause: frozen });
    expect(err.cause).not.toBe(frozen);
    expect(err.cause).toBeInstanceOf(Locked);
    expect((err.cause as { code: string }).code).toBe('E_LOCKED');
    expect(everything(err)).not.toContain(secret);
  });

  it('masks what is secret by its shape in any text', () => {
    const t = redactText(
      'GET https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIDX%2F2024&X-Amz-Signature=abc123&x-id=GetObject ' +
        'https://a.blob.core.windows.net/c/k?sv=1&sig=SIGVALUE&se=2 https://storage/upload?upload_id=SESSION ' +
        'http://user:PASSWORD@host:9000/ Authorization: AWS4-HMAC-SHA256 Credential=AKIDY/2024, Signature=f00d\n' +
        'Bearer TOKENVALUE -----BEGIN PRIVATE KEY-----\nKEYBYTES\n-----END PRIVATE KEY-----',
    );
    for (const s of [
      'AKIDX',
      'abc123',
      'SIGVALUE',
      'SESSION',
      'PASSWORD',
      'AKIDY',
      'f00d',
      'TOKENVALUE',
      'KEYBYTES',
    ])
      expect(t).not.toContain(s);
    expect(t).toContain('x-id=GetObject');
    expect(t).toContain('host:9000');
  });

  it('walks a bounded graph: a deep chain and a wide array end, cycles terminate', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 100; i++) deep = { next: deep };
    const wide = Array.from({ length: 10_000 }, (_, i) => ({ i }));
    const e = Object.assign(new Error('x'), { deep, wide });
    const cleaned = cleanCause(e) as { wide: unknown[] };
    expect(cleaned.wide.length).toBeLessThan(300);
    expect(inspect(cleaned, { depth: Infinity }).length).toBeLessThan(200_000);
  });
});

describe('errors name their cause (item 12)', () => {
  it('ENOTFOUND names the host, for every flavor', async () => {
    const dns = await lookup('avfs-no-such-host.invalid').catch((e: unknown) => e);
    for (const map of [mapS3Error, mapGcsError]) {
      const err = map(dns, { syscall: 'stat', path: 'x://b/k' });
      expect(err.code).toBe('ENOTFOUND');
      expect(err.message).toBe("ENOTFOUND: host not found: avfs-no-such-host.invalid, stat 'x://b/k'");
    }
    const viaStore = await createStore({
      flavor: 's3',
      path: 's3://b/k',
      endpoint: 'http://avfs-no-such-host.invalid:9000',
      accessKeyId: 'a1b2',
      secretAccessKey: 'c3d4',
      region: 'us-east-1',
      maxAttempts: 1,
    });
    await expect(viaStore.stat('x')).rejects.toMatchObject({
      code: 'ENOTFOUND',
      message: expect.stringContaining('host not found: avfs-no-such-host.invalid'),
    });
  });

  it('ECONNREFUSED names host:port, never the user-info of a URL', async () => {
    const port = await refusedPort();
    const refused = await new Promise<unknown>((resolve) => connect(port, '127.0.0.1').on('error', resolve));
    for (const err of [
      mapS3Error(refused, { syscall: 'stat', path: 's3://b/k' }),
      mapGcsError(refused, { syscall: 'stat', path: 'gs://b/k' }),
      mapAzureError(
        Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:${port}`), { code: 'REQUEST_SEND_ERROR' }),
        {
          syscall: 'stat',
          path: 'az://c/k',
        },
      ),
    ]) {
      expect(err.code).toBe('ECONNREFUSED');
      expect(err.message).toContain(`connection refused by 127.0.0.1:${port}`);
      expect(err.retryable).toBe(true);
    }
    const text = mapS3Error(new Error(`connect ECONNREFUSED http://me:pw@10.0.0.1:9`), { syscall: 'x' });
    expect(text.message).not.toContain('pw');
  });

  it('CredentialsProviderError says how to give credentials', async () => {
    const server = await startFauxqs();
    try {
      const store = await createStore({
        flavor: 's3',
        path: 's3://b/k',
        endpoint: server.endpoint,
        profile: 'avfs-no-such-profile',
        region: 'us-east-1',
        maxAttempts: 1,
      });
      const err = (await store.stat('x').catch((e: unknown) => e)) as Error & { code: string };
      expect(err.code).toBe('EACCES');
      expect(err.message).toMatch(/no AWS credentials .*accessKeyId and secretAccessKey.*AWS_ACCESS_KEY_ID/);
      expect((err.cause as Error).name).toBe('CredentialsProviderError');
    } finally {
      await server.stop();
    }
  });

  it('an unusable GCS private key says what is wrong, and no [GCS ] tag is empty', () => {
    let signing: unknown;
    try {
      createSign('RSA-SHA256')
        .update('x')
        .sign('-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----');
    } catch (e) {
      signing = e;
    }
    const err = mapGcsError(signing, { syscall: 'stat', path: 'gs://b/k' });
    expect(err.code).toBe('EACCES');
    expect(err.message).toMatch(/private_key is not a usable PEM private key \(ERR_OSSL_[A-Z_]+\)/);
    expect(err.message).toMatch(/credentials .* keyFilename/);
    const odd = mapGcsError(new Error('something odd'), { syscall: 'stat', path: 'gs://b/k' });
    expect(odd.message).not.toContain('[GCS ]');
    expect(odd.message).toContain('something odd');
  });

  it('an invalid endpoint URL is refused when the config is validated, naming the field', () => {
    const cases: Array<[Flavor, string, string]> = [
      [s3Flavor as unknown as Flavor, 'endpoint', 'not a url'],
      [s3Flavor as unknown as Flavor, 'endpoint', 'ftp://host'],
      [gcsFlavor as unknown as Flavor, 'apiEndpoint', 'http://'],
      [azureFlavor as unknown as Flavor, 'endpoint', 'localhost:10000'],
    ];
    for (const [flavor, field, value] of cases) {
      expect(() => validateConfig(flavor, { [field]: value }), `${flavor.name} ${value}`).toThrow(
        expect.objectContaining({
          code: 'EINVAL',
          message: expect.stringContaining(`config field '${field}' of flavor '${flavor.name}' must be`),
        }),
      );
    }
    const userinfo = (() => {
      try {
        validateConfig(s3Flavor as unknown as Flavor, { endpoint: 'http://me:hunter22@127.0.0.1:9' });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(userinfo?.message).toMatch(/without user:password@/);
    expect(userinfo?.message).not.toContain('hunter22');
    // what stays accepted: real URLs, a bare host for GCS (as its SDK), the env-reference probe
    expect(
      validateConfig(s3Flavor as unknown as Flavor, { endpoint: 'https://s3.example.com:9000/' }),
    ).toBeTruthy();
    expect(
      validateConfig(gcsFlavor as unknown as Flavor, { apiEndpoint: 'storage.example.com' }),
    ).toBeTruthy();
    expect(validateConfig(azureFlavor as unknown as Flavor, { endpoint: 'env-reference' })).toBeTruthy();
  });
});

describe("the AWS SDK's Node-version warning (item 10)", () => {
  it('drops exactly that warning while the client is built; other warnings pass', async () => {
    const seen: string[] = [];
    const listener = (w: Error): void => void seen.push(w.message);
    process.on('warning', listener);
    try {
      withoutSdkNodeWarning(() => {
        process.emitWarning(
          'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3)\nversions published…',
        );
        process.emitWarning('an unrelated warning', 'UserWarning');
      });
      process.emitWarning('NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) after the build');
      await new Promise((r) => setImmediate(r));
    } finally {
      process.off('warning', listener);
    }
    expect(seen).toEqual([
      'an unrelated warning',
      'NodeVersionSupportWarning: The AWS SDK for JavaScript (v3) after the build',
    ]);
  });
});
