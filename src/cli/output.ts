/**
 * Everything the CLI prints goes through here: text or JSON, colour only on a TTY (never with
 * NO_COLOR, `--no-color` or TERM=dumb), and every line scrubbed of registered secrets on its way out.
 */
import { scrub } from '../core/secrets.js';

export interface OutputOptions {
  json: boolean;
  quiet: boolean;
  color: boolean;
}

/** Colour is on only for a TTY, and never with NO_COLOR (any value), TERM=dumb or `--no-color`. */
export function colorWanted(stream: NodeJS.WriteStream, flag: boolean): boolean {
  if (!flag) return false;
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

const CODES = { bold: [1, 22], dim: [2, 22], red: [31, 39], green: [32, 39], cyan: [36, 39] } as const;
export type Style = keyof typeof CODES;

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly #color: boolean;
  readonly #errColor: boolean;

  constructor(options: OutputOptions) {
    this.json = options.json;
    this.quiet = options.quiet;
    this.#color = options.color && colorWanted(process.stdout, true);
    this.#errColor = options.color && colorWanted(process.stderr, true);
  }

  style(text: string, style: Style, stream: 'out' | 'err' = 'out'): string {
    if (!(stream === 'out' ? this.#color : this.#errColor)) return text;
    const [on, off] = CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }

  /** A line of normal output (stdout). */
  line(text = ''): void {
    process.stdout.write(scrub(text) + '\n');
  }

  /** A confirmation such as "registered store x"; suppressed by --quiet and --json. */
  info(text: string): void {
    if (this.quiet || this.json) return;
    process.stdout.write(scrub(text) + '\n');
  }

  /** One JSON document on stdout. */
  data(value: unknown): void {
    process.stdout.write(scrub(JSON.stringify(value, null, 2)) + '\n');
  }

  /** One NDJSON event on stdout (cp/mv progress and results). */
  event(value: Record<string, unknown>): void {
    process.stdout.write(scrub(JSON.stringify(value)) + '\n');
  }

  /** Raw bytes on stdout (cat). */
  get stdout(): NodeJS.WriteStream {
    return process.stdout;
  }

  /** The one-line error, on stderr: `avfs: message`, or `{"error":{…}}` with --json. */
  error(message: string, code: string | undefined, exitCode: number): void {
    const clean = scrub(message.split('\n')[0]!.trim());
    if (this.json) {
      process.stderr.write(
        scrub(JSON.stringify({ error: { code: code ?? 'ERR_AVFS', message: clean, exitCode } })) + '\n',
      );
    } else {
      process.stderr.write(`${this.style('avfs:', 'red', 'err')} ${clean}\n`);
    }
  }

  /** A table with a header row; columns padded to their widest cell. */
  table(header: string[], rows: string[][]): void {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const fmt = (cells: string[]): string =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    this.line(this.style(fmt(header), 'bold'));
    for (const r of rows) this.line(fmt(r));
  }
}

/** 1536 → `1.5 KiB`. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}
