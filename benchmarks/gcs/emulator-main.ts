/**
 * The GCS emulator in discard mode, as its own process (forked by `emulator-process.ts`), so its
 * CPU and memory are not charged to the client being measured. Uploaded bytes must be the benchmark
 * payload (`payloadBlock()[offset % 1 MiB]`); they are CRC32C-checked as they stream and dropped,
 * and downloads serve the same bytes. Answers `stats` over IPC; exits when the parent disconnects.
 */
import { startGcsEmulator } from '../../test/emulators/gcs/server.js';
import { payloadBlock, peakRssMiB } from '../s3/payload.js';

const emu = await startGcsEmulator({ discard: { pattern: payloadBlock() } });
const send = (m: unknown): void => void process.send?.(m);
process.on('message', (m: { type: string; id: number }) => {
  if (m.type === 'stats') {
    const s = emu.stats();
    const cpu = process.cpuUsage();
    send({
      type: 'reply',
      id: m.id,
      result: {
        requests: s.requests,
        objects: s.objects,
        openSessions: s.openSessions,
        cpuSeconds: (cpu.user + cpu.system) / 1e6,
        peakRssMiB: peakRssMiB(),
      },
    });
    emu.resetStats(); // the request log would grow without bound over a long run
  }
});
process.on('disconnect', () => void emu.stop().then(() => process.exit(0)));
send({ type: 'ready', endpoint: emu.endpoint, projectId: emu.projectId });
