#!/usr/bin/env node
/** The `avfs` bin. */
import { run } from './program.js';

// A reader of our stdout that goes away (`avfs cat … | head`) ends the output, not with a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

process.exitCode = await run(process.argv.slice(2));
// A flavor's SDK may keep sockets open for a moment; never let them hold the exit.
setTimeout(() => process.exit(), 2000).unref();
