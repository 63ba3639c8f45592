#!/usr/bin/env node
/** The `avfs` bin. */
import { Interrupt } from './interrupt.js';
import { run } from './program.js';

// A reader of our stdout that goes away (`avfs cat … | head`) ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

const interrupt = new Interrupt();
interrupt.install();
const code = await run(process.argv.slice(2), { interrupt });
// Interrupted: cleaned up; now end by the signal itself (see Interrupt.die).
interrupt.die();
process.exitCode = code;
// A flavor's SDK may keep sockets open for a moment; never let them hold the exit.
setTimeout(() => process.exit(), 2000).unref();
