/**
 * The `avfs` program: global flags, the command tree, and one place that turns any failure into one
 * line on stderr and an exit code (0 ok, 1 failure, 2 usage).
 */
import { Command, CommanderError } from 'commander';
// The built-in flavors, registered before any command looks one up.
import '../builtins.js';
import { errorCode } from '../core/errors.js';
import { registerStoredSecrets } from '../store/stores.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError } from './errors.js';
import { addFileCommands, type Context, type Runner } from './file-commands.js';
import { Interrupt } from './interrupt.js';
import { Output } from './output.js';
import { addStoreCommands } from './store-commands.js';
import { Targets } from './targets.js';

interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  color?: boolean;
  configDir?: string;
}

const VERSION = '0.1.0';

/** Runs the CLI on `argv` (without `node` and the script); resolves to the exit code. */
export async function run(argv: readonly string[], options: { interrupt?: Interrupt } = {}): Promise<number> {
  const interrupt = options.interrupt ?? new Interrupt();
  // Until the options are parsed, --json and --no-color are read from argv (for commander's errors).
  let out = new Output({
    json: argv.includes('--json'),
    quiet: false,
    color: !argv.includes('--no-color'),
  });
  let exitCode = EXIT_OK;
  const targets = new Targets();

  const runner: Runner =
    (action, how = {}) =>
    async (...args: unknown[]) => {
      const cmd = args.at(-1) as Command;
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (g.configDir) process.env.ARTIFACT_VFS_CONFIG_DIR = g.configDir;
      out = new Output({ json: g.json ?? false, quiet: g.quiet ?? false, color: g.color ?? true });
      const ctx: Context = { out, targets, signal: interrupt.signal };
      const act = (): Promise<void> =>
        (action as (ctx: Context, ...rest: unknown[]) => Promise<void>)(ctx, ...args);
      await (how.writes ? interrupt.guard(act) : act());
    };

  const program = new Command('avfs')
    .description(
      'artifact-vfs: manage artifact stores (ZenML-style) and work with files on any of them.\n' +
        'Paths: STORE:path (a registered store), a URI (s3://bucket/key, mem://x/y) or a local path.',
    )
    .version(VERSION, '-V, --version')
    .option('--json', 'machine-readable output on stdout (errors: a JSON object on stderr)')
    .option('-q, --quiet', 'no confirmations or progress')
    .option('--no-color', 'no colour (also off without a TTY and with NO_COLOR)')
    .option('--config-dir <dir>', 'config directory (default: $ARTIFACT_VFS_CONFIG_DIR, else the XDG one)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      // Commander's own errors become our one line (and a JSON object with --json).
      outputError: () => undefined,
    });
  program.addHelpText(
    'after',
    '\nExit codes: 0 ok, 1 failure, 2 usage error. Docs: docs/cli.md\n' +
      'Examples:\n' +
      '  avfs artifact-store list\n' +
      '  avfs artifact-store register s3s --flavor s3 --path s3://bucket/ml --region=eu-west-1\n' +
      '  avfs cp -r ./outputs s3s:runs/42/\n' +
      '  avfs ls -l default:runs',
  );
  addStoreCommands(program, runner);
  addFileCommands(program, runner);
  // Every subcommand inherits exitOverride and the silent error output.
  const quietErrors = (c: Command): void => {
    c.exitOverride().configureOutput({ outputError: () => undefined });
    c.commands.forEach(quietErrors);
  };
  quietErrors(program);

  try {
    // Stored secrets are masked in everything printed, including errors about the command line.
    const dirFlag = argv.indexOf('--config-dir');
    if (dirFlag >= 0 && argv[dirFlag + 1]) process.env.ARTIFACT_VFS_CONFIG_DIR = argv[dirFlag + 1];
    await registerStoredSecrets().catch(() => undefined);
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    exitCode = report(out, err, interrupt.exitCode);
  } finally {
    await targets.closeAll();
  }
  return exitCode;
}

/** Prints the failure; `interrupted` is the exit code of a signal that ended the command. */
function report(out: Output, err: unknown, interrupted?: number): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
    // `avfs` or `avfs store` alone prints the help on stderr: a usage error.
    if (err.code === 'commander.help') return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    const message = err.message.replace(/^error: /, '');
    out.error(`${message} (see --help)`, 'ERR_USAGE', EXIT_USAGE);
    return EXIT_USAGE;
  }
  if (err instanceof UsageError) {
    out.error(`${err.message} (see --help)`, err.code, EXIT_USAGE);
    return EXIT_USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  const code = interrupted ?? EXIT_FAILURE;
  out.error(message, errorCode(err), code);
  if (process.env.AVFS_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
  return code;
}
