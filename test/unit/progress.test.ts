/** The CLI's NDJSON progress events: one final event per transfer (issue 13, item 13). */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Output } from '../../src/cli/output.js';
import { Progress } from '../../src/cli/progress.js';

function recorder(): { out: Output; events: Array<Record<string, unknown>> } {
  const events: Array<Record<string, unknown>> = [];
  const out = { json: true, quiet: false, event: (e: Record<string, unknown>) => events.push(e) };
  return { out: out as unknown as Output, events };
}

describe('Progress (--json)', () => {
  it('does not repeat the final event when the last update already reported every byte', async () => {
    const { out, events } = recorder();
    const t = new Progress(out).start('a', 'b', 100);
    await sleep(300); // past the event interval: this update is sent
    t.update(100);
    t.done(100);
    t.done(100);
    expect(events.filter((e) => e.bytes === 100)).toHaveLength(1);
  });

  it('sends the final event when the last update was throttled', () => {
    const { out, events } = recorder();
    const t = new Progress(out).start('a', 'b', 100);
    t.update(40);
    t.update(100); // within the interval: not sent
    t.done(100);
    expect(events.map((e) => e.bytes)).toEqual([40, 100]);
  });
});
