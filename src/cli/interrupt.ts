/**
 * Ctrl-C, SIGTERM and SIGHUP while the CLI writes. A command that writes (`cp`, `mv`) runs
 * {@link Interrupt.guard}ed: the first signal aborts its AbortSignal, the copy in flight rejects with
 * ECANCELED after cleaning up (a hidden temp file removed, a multipart upload aborted), and the
 * process exits 128 + the signal's number, as a shell reports a killed command. Cleanup is bounded
 * ({@link CLEANUP_GRACE_MS}); a second signal exits at once. A command that writes nothing exits at
 * the first signal, as it would by default.
 */
import { constants } from 'node:os';

/** How long an interrupted command may spend cleaning up before the process exits anyway. */
export const CLEANUP_GRACE_MS = 10_000;

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
type Handled = (typeof SIGNALS)[number];

export class Interrupt {
  readonly #controller = new AbortController();
  #guards = 0;
  /** The signal received first, if any. */
  received: Handled | undefined;

  /** Aborted at the first signal received while a guarded command runs. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Runs `work`; a signal meanwhile aborts {@link signal} and waits for `work` to clean up. */
  async guard<T>(work: () => Promise<T>): Promise<T> {
    this.#guards++;
    try {
      return await work();
    } finally {
      this.#guards--;
    }
  }

  /** The exit code for the signal received (128 + its number), or undefined. */
  get exitCode(): number | undefined {
    return this.received === undefined ? undefined : 128 + constants.signals[this.received];
  }

  /**
   * Installs the handlers on this process (the `avfs` bin does; a library caller of `run` keeps its
   * own). `exit` is process.exit, or a stand-in for tests.
   */
  install(exit: (code: number) => void = (code) => process.exit(code)): void {
    for (const sig of SIGNALS) {
      process.on(sig, () => {
        const first = this.received === undefined;
        this.received ??= sig;
        const code = this.exitCode!;
        if (!first || this.#guards === 0) return exit(code);
        this.#controller.abort(new Error(`interrupted by ${sig}`));
        setTimeout(() => {
          process.stderr.write(
            `avfs: cleanup after ${sig} took over ${CLEANUP_GRACE_MS / 1000} s; exiting\n`,
          );
          exit(code);
        }, CLEANUP_GRACE_MS).unref();
      });
    }
  }
}
