/**
 * Ctrl-C, SIGTERM and SIGHUP while the CLI writes. A command that writes (`cp`, `mv`) runs
 * {@link Interrupt.guard}ed: the first signal aborts its AbortSignal, the copy in flight rejects with
 * ECANCELED after cleaning up (a hidden temp file removed, a multipart upload aborted), and then
 * the process ends by that same signal (re-raised with its default action), so the shell reports
 * 128 + its number and a script stops. Cleanup is bounded ({@link CLEANUP_GRACE_MS}); a second
 * signal ends the process at once. A command that writes nothing ends at the first signal, as it
 * would by default.
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
   * own). A command that writes nothing, or a second signal, ends the process at once through
   * {@link die}.
   */
  install(): void {
    for (const sig of SIGNALS) {
      process.on(sig, () => {
        const first = this.received === undefined;
        this.received ??= sig;
        if (!first || this.#guards === 0) return this.die();
        this.#controller.abort(new Error(`interrupted by ${sig}`));
        setTimeout(() => {
          process.stderr.write(
            `avfs: cleanup after ${sig} took over ${CLEANUP_GRACE_MS / 1000} s; exiting\n`,
          );
          this.die();
        }, CLEANUP_GRACE_MS).unref();
      });
    }
  }

  /**
   * Ends the process by the signal received, as its default action would: the shell sees a process
   * killed by SIGINT (and stops a script, as it should), and nothing waits. `process.exit` would
   * wait for the libuv threadpool, where a read of a silent FIFO or a hung network file system can
   * block for ever.
   */
  die(): void {
    const sig = this.received;
    if (sig === undefined) return;
    for (const s of SIGNALS) process.removeAllListeners(s);
    process.kill(process.pid, sig);
  }
}
