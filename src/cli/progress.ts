/**
 * Transfer progress: a bar on stderr when it is a TTY (bytes, rate, ETA), NDJSON `progress` events on
 * stdout with --json, nothing otherwise (pipes, --quiet). The bar appears only for large transfers.
 */
import cliProgress from 'cli-progress';
import { formatBytes, type Output } from './output.js';

/** Transfers at least this large get a bar on a TTY. */
export const BAR_MIN_BYTES = 8 * 1024 * 1024;
/** At most one NDJSON progress event per transfer per interval (and one when it completes). */
const EVENT_INTERVAL_MS = 250;

export interface Transfer {
  /** Bytes moved so far (cumulative). */
  update(bytes: number): void;
  /** The transfer completed: a final event (or the bar's last frame). */
  done(bytes: number): void;
  /** The transfer failed or was abandoned: stop drawing. */
  stop(): void;
}

const NOOP: Transfer = { update() {}, done() {}, stop() {} };

export class Progress {
  readonly #out: Output;
  readonly #bar: boolean;

  constructor(out: Output) {
    this.#out = out;
    this.#bar = !out.json && !out.quiet && process.stderr.isTTY === true;
  }

  start(src: string, dst: string, total: number): Transfer {
    if (this.#out.json) return this.#events(src, dst, total);
    if (this.#bar && total >= BAR_MIN_BYTES) return this.#drawBar(dst, total);
    return NOOP;
  }

  #events(src: string, dst: string, total: number): Transfer {
    const started = Date.now();
    let last = 0;
    let lastBytes = -1;
    let finished = false;
    const emit = (bytes: number): void => {
      lastBytes = bytes;
      const seconds = (Date.now() - started) / 1000;
      this.#out.event({
        type: 'progress',
        src,
        dst,
        bytes,
        total,
        bytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : null,
      });
    };
    return {
      update(bytes) {
        const now = Date.now();
        if (finished || now - last < EVENT_INTERVAL_MS) return;
        last = now;
        emit(bytes);
      },
      // One final event: not again when the last update already reported every byte.
      done(bytes) {
        if (finished) return;
        finished = true;
        if (bytes !== lastBytes) emit(bytes);
      },
      stop() {},
    };
  }

  #drawBar(dst: string, total: number): Transfer {
    const started = Date.now();
    const bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: `{label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}`,
        formatValue: (v, _o, type) => (type === 'value' || type === 'total' ? formatBytes(v) : String(v)),
        hideCursor: true,
        etaBuffer: 40,
        fps: 8,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
    const label = dst.length > 32 ? `…${dst.slice(-31)}` : dst;
    bar.start(total, 0, { label, rate: formatBytes(0) });
    const rate = (bytes: number): string =>
      formatBytes(Math.round(bytes / Math.max((Date.now() - started) / 1000, 0.001)));
    return {
      update(bytes) {
        bar.update(bytes, { rate: rate(bytes) });
      },
      done(bytes) {
        bar.update(bytes, { rate: rate(bytes) });
        bar.stop();
      },
      stop() {
        bar.stop();
      },
    };
  }
}
