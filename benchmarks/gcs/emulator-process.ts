/** Forks `emulator-main.js` and talks to it over IPC; `stop()` ends it. */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface EmulatorStats {
  requests: number;
  objects: number;
  openSessions: number;
  cpuSeconds: number;
  peakRssMiB: number;
}

export interface EmulatorProcess {
  endpoint: string;
  projectId: string;
  pid: number;
  stats(): Promise<EmulatorStats>;
  stop(): Promise<void>;
}

export async function startEmulatorProcess(): Promise<EmulatorProcess> {
  const script = fileURLToPath(new URL('./emulator-main.js', import.meta.url));
  const child = fork(script, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const killOnExit = (): void => void child.kill('SIGTERM');
  process.once('exit', killOnExit);
  const waiting = new Map<number, (v: unknown) => void>();
  let nextId = 1;
  const ready = await new Promise<{ endpoint: string; projectId: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('GCS emulator did not start within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`GCS emulator exited early (code ${code})`)));
    child.on(
      'message',
      (m: { type: string; endpoint?: string; projectId?: string; id?: number; result?: unknown }) => {
        if (m.type === 'ready') {
          clearTimeout(timer);
          resolve({ endpoint: m.endpoint!, projectId: m.projectId! });
        } else if (m.type === 'reply' && m.id !== undefined) {
          waiting.get(m.id)?.(m.result);
          waiting.delete(m.id);
        }
      },
    );
  });
  return {
    ...ready,
    pid: child.pid!,
    stats: () =>
      new Promise<EmulatorStats>((resolve) => {
        const id = nextId++;
        waiting.set(id, (v) => resolve(v as EmulatorStats));
        child.send({ type: 'stats', id });
      }),
    stop: async () => {
      process.off('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
