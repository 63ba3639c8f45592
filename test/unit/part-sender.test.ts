/**
 * The S3 part sender's transport on its own, against local node:http and node:https servers that
 * record what they receive: the part's buffers arrive whole and in order over both (HTTPS writes
 * them one at a time, since TLS would copy a multi-buffer write), the signer's headers go as
 * signed, and error documents come back in the SDK's error shape. (Signing itself is the SDK's,
 * and is checked by radosgw in test/s3.)
 */
import { createHash, randomBytes } from 'node:crypto';
import { Agent as HttpAgent, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PartSender, type PartTarget, type RequestSigner } from '../../adapters/s3/part-sender.js';
import { selfSigned } from '../emulators/tls.js';

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Stands in for the SDK signer: adds an Authorization header and records what it was given. */
function signer(seen: object[]): () => Promise<RequestSigner> {
  return async () => ({
    async sign(request: object) {
      seen.push(request);
      const r = request as { headers: Record<string, string> };
      return { headers: { ...r.headers, authorization: 'AWS4-HMAC-SHA256 test' } };
    },
  });
}

interface Recorded {
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

function handler(recorded: Recorded[], reply: (r: Recorded, res: ServerResponse) => void) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const r = { url: req.url ?? '', headers: req.headers, body: Buffer.concat(parts) };
      recorded.push(r);
      reply(r, res);
    });
  };
}

const ok = (_r: Recorded, res: ServerResponse) => {
  res.writeHead(200, { etag: '"abc"' });
  res.end();
};

const tls = selfSigned();
const buffers = [randomBytes(1 << 20), randomBytes(65_536), randomBytes(3 * 1024 * 1024 + 7)];
const whole = Buffer.concat(buffers);

describe('s3 part sender', () => {
  const recorded: Recorded[] = [];
  let http: ReturnType<typeof createServer>;
  let port = 0;
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };
  beforeAll(async () => {
    http = createServer(
      handler(recorded, (r, res) => {
        if (r.url.includes('partNumber=9')) {
          res.writeHead(403, { 'content-type': 'application/xml' });
          res.end('<?xml version="1.0"?><Error><Code>AccessDenied</Code><Message>nope</Message></Error>');
        } else ok(r, res);
      }),
    );
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    port = (http.address() as AddressInfo).port;
  });
  afterAll(() => {
    http.close();
    agents.http.destroy();
    agents.https.destroy();
  });

  const target = (protocol: string, p: number): PartTarget => ({
    protocol,
    hostname: '127.0.0.1',
    port: p,
    path: '/bucket/a%20key',
    signingRegion: 'us-east-1',
    signingService: 's3',
  });

  it('sends the buffers whole and in order with the signed headers; returns the ETag', async () => {
    const seen: object[] = [];
    const sender = new PartSender(signer(seen), agents);
    const etag = await sender.send(target('http:', port), 'up/1+=', 3, buffers, whole.length, {
      'x-amz-checksum-crc32': 'AAAAAA==',
    });
    expect(etag).toBe('"abc"');
    const r = recorded.at(-1)!;
    expect(sha(r.body)).toBe(sha(whole));
    expect(r.url).toBe('/bucket/a%20key?partNumber=3&uploadId=up%2F1%2B%3D&x-id=UploadPart');
    expect(r.headers.authorization).toBe('AWS4-HMAC-SHA256 test');
    expect(r.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
    expect(r.headers['x-amz-checksum-crc32']).toBe('AAAAAA==');
    expect(r.headers['content-length']).toBe(String(whole.length));
    expect(seen[0]).toMatchObject({ method: 'PUT', query: { partNumber: '3', uploadId: 'up/1+=' } });
  });

  it('an error document comes back in the SDK error shape', async () => {
    const sender = new PartSender(signer([]), agents);
    await expect(sender.send(target('http:', port), 'u', 9, buffers, whole.length, {})).rejects.toMatchObject(
      {
        name: 'AccessDenied',
        message: 'nope',
        $metadata: { httpStatusCode: 403 },
      },
    );
  });

  it.skipIf(typeof tls === 'string')(
    `over HTTPS the buffers arrive whole too${typeof tls === 'string' ? ` — skipped: ${tls}` : ''}`,
    async () => {
      const creds = tls as { key: Buffer; cert: Buffer };
      const got: Recorded[] = [];
      const server = createHttpsServer(creds, handler(got, ok));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const httpsAgent = new HttpsAgent({ keepAlive: true, ca: creds.cert });
      try {
        const sender = new PartSender(signer([]), { http: agents.http, https: httpsAgent });
        const p = (server.address() as AddressInfo).port;
        expect(await sender.send(target('https:', p), 'u', 1, buffers, whole.length, {})).toBe('"abc"');
        expect(sha(got[0]!.body)).toBe(sha(whole));
      } finally {
        httpsAgent.destroy();
        server.close();
      }
    },
  );
});
