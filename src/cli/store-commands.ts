/**
 * `avfs artifact-store …` (alias `avfs store …`) in ZenML's shape: register, list, describe, update,
 * delete, set, and `flavor list / describe / register / delete`.
 */
import type { Command } from 'commander';
import { registerSecret } from '../core/secrets.js';
import { defaultRegistry } from '../store/defaults.js';
import type { ConfigSchema } from '../store/flavor.js';
import {
  deleteCustomFlavor,
  deleteStore,
  DEFAULT_STORE,
  describeStore,
  getStoreRecord,
  isReferenceOnly,
  listCustomFlavors,
  listStores,
  registerCustomFlavor,
  registerStore,
  setActiveStore,
  updateStore,
  type NamedStore,
} from '../store/stores.js';
import { fieldName, parseKeyValues, UsageError } from './errors.js';
import type { Context, Runner } from './file-commands.js';

/** The `--KEY=VALUE` options of a command, mapped onto the flavor's field names; secrets registered. */
function configOptions(args: readonly string[], schema: ConfigSchema | undefined): Record<string, string> {
  const raw = parseKeyValues(args);
  const out: Record<string, string> = {};
  const fields = Object.keys(schema ?? {});
  for (const [key, value] of Object.entries(raw)) {
    const name = fieldName(key, fields);
    // Registered before any check, so no error about this call can show the value.
    if ((!schema || schema[name]?.secret) && !isReferenceOnly(value)) registerSecret(value);
    out[name] = value;
  }
  return out;
}

async function schemaOf(flavor: string): Promise<ConfigSchema | undefined> {
  if (defaultRegistry.has(flavor)) return defaultRegistry.get(flavor).config;
  return (await listCustomFlavors()).find((f) => f.name === flavor)?.config;
}

/** Everything commander did not parse: the `--KEY=VALUE` options (and any stray words). */
function extraArgs(cmd: Command, positional: number): string[] {
  return cmd.args.slice(positional);
}

function printStore(ctx: Context, s: NamedStore): void {
  if (ctx.out.json) {
    ctx.out.data({ name: s.name, flavor: s.flavor, path: s.path, active: s.active, config: s.config });
    return;
  }
  ctx.out.line(`${ctx.out.style(`Artifact store '${s.name}'`, 'bold')}${s.active ? ' (active)' : ''}`);
  const rows: Array<[string, string]> = [
    ['FLAVOR', s.flavor],
    ['PATH', s.path],
    ...Object.entries(s.config).map(([k, v]): [string, string] => [
      k,
      typeof v === 'string' ? v : JSON.stringify(v),
    ]),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) ctx.out.line(`  ${k.padEnd(width)}  ${v}`);
}

export function addStoreCommands(program: Command, run: Runner): void {
  const store = program
    .command('artifact-store')
    .alias('store')
    .description("manage artifact stores (ZenML's `artifact-store` commands)");

  store
    .command('register')
    .description('register a store: avfs artifact-store register NAME --flavor F --path P [--KEY=VALUE ...]')
    .argument('<name>', 'the store name (letters, digits, ".", "_", "-")')
    .requiredOption('-f, --flavor <flavor>', 'a flavor from `avfs artifact-store flavor list`')
    .requiredOption('-p, --path <path>', "the store root, in one of the flavor's schemes")
    .allowUnknownOption()
    .allowExcessArguments()
    .addHelpText(
      'after',
      '\nFlavor fields are given as --KEY=VALUE (see `avfs artifact-store flavor describe F`).\n' +
        'A value may reference an environment variable, resolved only when the store is used:\n' +
        "  --secretAccessKey='{{env.AWS_SECRET_ACCESS_KEY}}'",
    )
    .action(
      run(async (ctx: Context, name: string, opts: { flavor: string; path: string }, cmd: Command) => {
        const config = configOptions(extraArgs(cmd, 1), await schemaOf(opts.flavor));
        await registerStore(name, { flavor: opts.flavor, path: opts.path, config });
        const shown = await describeStore(name);
        if (ctx.out.json) printStore(ctx, shown);
        else ctx.out.info(`Registered artifact store '${name}' (${shown.flavor}, ${shown.path}).`);
      }),
    );

  store
    .command('list')
    .alias('ls')
    .description('list the registered stores (the active one marked)')
    .action(
      run(async (ctx: Context) => {
        const stores = await listStores();
        if (ctx.out.json) {
          ctx.out.data(
            stores.map((s) => ({ name: s.name, flavor: s.flavor, path: s.path, active: s.active })),
          );
          return;
        }
        ctx.out.table(
          ['ACTIVE', 'NAME', 'FLAVOR', 'PATH'],
          stores.map((s) => [s.active ? '*' : '', s.name, s.flavor, s.path]),
        );
      }),
    );

  store
    .command('describe')
    .description('show a store and its config (secrets masked); the active store without NAME')
    .argument('[name]')
    .action(
      run(async (ctx: Context, name: string | undefined) => {
        printStore(ctx, await describeStore(name));
      }),
    );

  store
    .command('update')
    .description('change a store: avfs artifact-store update NAME [--path P] [--KEY=VALUE ...] [--unset KEY]')
    .argument('<name>')
    .option('-p, --path <path>', 'a new root')
    .option('--unset <key>', 'remove a config field (repeatable)', (v: string, all: string[] = []) => [
      ...all,
      v,
    ])
    .allowUnknownOption()
    .allowExcessArguments()
    .action(
      run(async (ctx: Context, name: string, opts: { path?: string; unset?: string[] }, cmd: Command) => {
        // (the default store's record is not created just to refuse to change it)
        const flavorName = name === DEFAULT_STORE ? 'local' : (await getStoreRecord(name)).flavor;
        const schema = await schemaOf(flavorName);
        const set = configOptions(extraArgs(cmd, 1), schema);
        const unset = (opts.unset ?? []).map((k) => fieldName(k, Object.keys(schema ?? {})));
        if (!Object.keys(set).length && !unset.length && opts.path === undefined)
          throw new UsageError('nothing to update: give --path, --KEY=VALUE or --unset KEY');
        await updateStore(name, { ...(opts.path === undefined ? {} : { path: opts.path }), set, unset });
        const shown = await describeStore(name);
        if (ctx.out.json) printStore(ctx, shown);
        else ctx.out.info(`Updated artifact store '${name}'.`);
      }),
    );

  store
    .command('delete')
    .alias('rm')
    .description('forget a store (its data is not touched)')
    .argument('<name>')
    .action(
      run(async (ctx: Context, name: string) => {
        await deleteStore(name);
        if (ctx.out.json) ctx.out.data({ deleted: name });
        else ctx.out.info(`Deleted artifact store '${name}' (its data was not touched).`);
      }),
    );

  store
    .command('set')
    .description('make a store the active one')
    .argument('<name>')
    .action(
      run(async (ctx: Context, name: string) => {
        await setActiveStore(name);
        if (ctx.out.json) ctx.out.data({ active: name });
        else ctx.out.info(`Active artifact store: '${name}'.`);
      }),
    );

  const flavor = store.command('flavor').description('artifact-store flavors');

  flavor
    .command('list')
    .alias('ls')
    .description('list the flavors (built in and registered)')
    .action(
      run(async (ctx: Context) => {
        const custom = await listCustomFlavors();
        const builtIn = defaultRegistry.list().filter((f) => !custom.some((c) => c.name === f.name));
        const rows = [
          ...builtIn.map((f) => ({
            name: f.name,
            schemes: [...f.schemes],
            description: f.description,
            builtin: true,
          })),
          ...custom.map((f) => ({
            name: f.name,
            schemes: f.schemes,
            description: f.description,
            builtin: false,
            module: `${f.module}#${f.export}`,
          })),
        ];
        if (ctx.out.json) return ctx.out.data(rows);
        ctx.out.table(
          ['NAME', 'SCHEMES', 'SOURCE', 'DESCRIPTION'],
          rows.map((r) => [
            r.name,
            r.schemes.map((s) => (s === 'file' ? 'file://, paths' : `${s}://`)).join(', '),
            r.builtin ? 'built-in' : 'custom',
            r.description,
          ]),
        );
      }),
    );

  flavor
    .command('describe')
    .description('a flavor: its schemes and config fields (which are required, which are secret)')
    .argument('<name>')
    .action(
      run(async (ctx: Context, name: string) => {
        const custom = (await listCustomFlavors()).find((f) => f.name === name);
        const f = custom ?? defaultRegistry.get(name);
        const fields = [
          {
            name: 'path',
            type: 'string',
            required: true,
            secret: false,
            description: `The store root (${f.schemes.map((s) => (s === 'file' ? 'a local path' : `${s}://…`)).join(', ')})`,
          },
          ...Object.entries(f.config).map(([k, v]) => ({
            name: k,
            type: v.type,
            required: v.required ?? false,
            secret: v.secret ?? false,
            description: v.description,
            ...(v.default === undefined ? {} : { default: v.default }),
          })),
        ];
        const info = {
          name,
          description: f.description,
          schemes: [...f.schemes],
          packages: [...(f.packages ?? [])],
          builtin: !custom,
          ...(custom ? { module: `${custom.module}#${custom.export}` } : {}),
          fields,
        };
        if (ctx.out.json) return ctx.out.data(info);
        ctx.out.line(`${ctx.out.style(`Flavor '${name}'`, 'bold')}: ${f.description}`);
        ctx.out.line(`  schemes:  ${info.schemes.join(', ')}`);
        if (info.packages.length) ctx.out.line(`  packages: ${info.packages.join(', ')} (npm install …)`);
        if (info.module) ctx.out.line(`  module:   ${info.module}`);
        ctx.out.line();
        ctx.out.table(
          ['FIELD', 'TYPE', 'REQUIRED', 'SECRET', 'DESCRIPTION'],
          fields.map((x) => [
            x.name,
            x.type,
            x.required ? 'yes' : 'no',
            x.secret ? 'yes' : 'no',
            x.description,
          ]),
        );
      }),
    );

  flavor
    .command('register')
    .description('register a custom flavor from a JS module: <module>#<export> (a path or a package)')
    .argument('<spec>', 'e.g. ./flavors/my-flavor.js#myFlavor')
    .action(
      run(async (ctx: Context, spec: string) => {
        const r = await registerCustomFlavor(spec);
        if (ctx.out.json)
          ctx.out.data({ name: r.name, schemes: r.schemes, module: `${r.module}#${r.export}` });
        else
          ctx.out.info(
            `Registered flavor '${r.name}' (${r.schemes.join(', ')}) from ${r.module}#${r.export}.`,
          );
      }),
    );

  flavor
    .command('delete')
    .description('forget a custom flavor (refused while a store uses it)')
    .argument('<name>')
    .action(
      run(async (ctx: Context, name: string) => {
        await deleteCustomFlavor(name);
        if (ctx.out.json) ctx.out.data({ deleted: name });
        else ctx.out.info(`Deleted flavor '${name}'.`);
      }),
    );
}
