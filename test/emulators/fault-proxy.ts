/**
 * An HTTP reverse proxy on 127.0.0.1 that injects faults in front of an emulator: a connection
 * reset after N body bytes, a 503 answer, a stall, an answer lost after the server acted on the
 * request, or an answer cut after N body bytes, on requests that match a rule, a bounded
 * number of times. Everything else is forwarded untouched (keep-alive on both sides).
 */
import {
  createServer,
  request as httpRequest,
  Agent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface FaultRule {
  /** Which requests: e.g. `(req, url) => req.method === 'PUT' && url.searchParams.get('partNumber') === '3'`. */
  match: (req: IncomingMessage, url: URL) => boolean;
  /** What to do. */
  fault:
    | { kind: 'reset'; afterBytes: number }
    | { kind: 'status'; status: number; body?: string }
    | { kind: 'stall'; ms: number }
    /** Forwarded and answered upstream, then the client's connection is reset: a lost answer. */
    | { kind: 'drop-response' }
    /** Forwarded; the answer's headers and its first `afterBytes` body bytes reach the client, then a reset: a torn answer. */
    | { kind: 'cut-response'; afterBytes: number };
  /** How many matching requests get the fault (default 1); later ones pass. */
  times?: number;
}

export interface FaultProxy {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  /** Requests that matched a rule and were faulted, per rule index. */
  readonly hits: number[];
  /** Every request seen: `METHOD path?query`. */
  readonly log: string[];
  /** The headers of every request seen, in the same order as `log`. */
  readonly headers: IncomingMessage['headers'][];
  setRules(rules: FaultRule[]): void;
  close(): Promise<void>;
}

/**
 * A proxy for `target` (an `http://` server). With `tls` it listens for HTTPS (the client must
 * trust the certificate) and forwards over plain HTTP: a TLS-terminating front.
 */
export async function startFaultProxy(
  target: string,
  options: { tls?: { key: Buffer; cert: Buffer } } = {},
): Promise<FaultProxy> {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  let rules: FaultRule[] = [];
  let remaining: number[] = [];
  const hits: number[] = [];
  const log: string[] = [];
  const headers: IncomingMessage['headers'][] = [];
  const sockets = new Set<Socket>();

  /** Sends `req` upstream (its body piped through) and hands over the upstream response. */
  const send = (
    req: IncomingMessage,
    onResponse: (up: IncomingMessage) => void,
    onError: () => void,
  ): void => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        // The Host header stays as the client sent it: it is part of the SigV4 signature.
        headers: req.headers,
        agent,
      },
      onResponse,
    );
    out.on('error', onError);
    req.pipe(out);
  };

  const forward = (req: IncomingMessage, res: ServerResponse): void =>
    send(
      req,
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
      () => res.destroy(),
    );

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    log.push(`${req.method} ${url.pathname}${url.search}`);
    headers.push(req.headers);
    const i = rules.findIndex((r, idx) => remaining[idx]! > 0 && r.match(req, url));
    if (i < 0) return forward(req, res);
    remaining[i]!--;
    hits[i] = (hits[i] ?? 0) + 1;
    const fault = rules[i]!.fault;
    if (fault.kind === 'status') {
      req.resume();
      req.on('end', () => {
        res.writeHead(fault.status, { 'content-type': 'application/xml' });
        res.end(
          fault.body ??
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected</Message></Error>',
        );
      });
      return;
    }
    if (fault.kind === 'drop-response') {
      const lose = (): void => void req.socket.resetAndDestroy();
      send(
        req,
        (up) => {
          up.resume();
          up.on('end', lose);
        },
        lose,
      );
      return;
    }
    if (fault.kind === 'cut-response') {
      send(
        req,
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          let sent = 0;
          up.on('data', (chunk: Buffer) => {
            if (sent >= fault.afterBytes) return;
            const room = fault.afterBytes - sent;
            if (room > 0) res.write(chunk.subarray(0, room));
            sent += chunk.length;
            if (sent >= fault.afterBytes) {
              up.destroy();
              // Let what was written go out, then reset (no clean end: the client sees it torn).
              setImmediate(() => req.socket.resetAndDestroy());
            }
          });
          // An answer shorter than the cut passes whole.
          up.on('end', () => res.end());
        },
        () => res.destroy(),
      );
      return;
    }
    if (fault.kind === 'stall') {
      setTimeout(() => forward(req, res), fault.ms);
      return;
    }
    let seen = 0;
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen >= fault.afterBytes) req.socket.resetAndDestroy();
    });
    req.on('end', () => req.socket.resetAndDestroy());
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, handle) : createServer(handle);
  server.on(options.tls ? 'secureConnection' : 'connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    hits,
    log,
    headers,
    setRules(next) {
      rules = next;
      remaining = next.map((r) => r.times ?? 1);
      hits.length = 0;
    },
    async close() {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
