/**
 * The layer order of README's design section, enforced by `npm run lint` (dependency-cruiser):
 * each layer imports only the ones below it, no module imports itself back through a cycle, and
 * the composition root (src/builtins.ts) is the only module under src/ that imports adapters/.
 */
const LAYERS = [
  ['core', '^src/core/'],
  ['fs', '^src/fs/'],
  ['backend', '^src/backend/'],
  ['vfs', '^src/vfs/'],
  ['store', '^src/store/'],
  ['adapters', '^adapters/'],
  ['builtins', '^src/(builtins|default-vfs)[.]ts$'],
  ['api', '^src/(fileio[.]ts|index[.]ts|testing/)'],
  ['cli', '^src/cli/'],
];

const upward = LAYERS.flatMap(([name, path], i) => {
  const above = LAYERS.slice(i + 1).map(([, p]) => `(${p})`);
  return above.length === 0
    ? []
    : [
        {
          name: `layer-${name}`,
          comment: `${name} imports only the layers below it (README: design)`,
          severity: 'error',
          from: { path },
          to: { path: above.join('|') },
        },
      ];
});

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'composition-root',
      comment: 'only src/builtins.ts, the composition root, imports adapters/',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/builtins[.]ts$' },
      to: { path: '^adapters/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle',
      severity: 'error',
      from: { path: '^(src|adapters)/' },
      to: { circular: true },
    },
    {
      name: 'no-test-code',
      comment: 'the shipped code imports nothing from test/, benchmarks/ or examples/',
      severity: 'error',
      from: { path: '^(src|adapters)/' },
      to: { path: '^(test|benchmarks|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    exclude: { path: '(^dist/)|([.]test[.]ts$)' },
  },
};
