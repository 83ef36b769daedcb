// The import boundaries (docs/architecture.md, "Packages and services"), checked by `npm run lint`:
// no cycles, libraries never import processes, and each package imports only the packages below
// it. A new package gets a line in LAYERS.
/** Package → the packages it may import. */
const LAYERS = {
  sip: [],
  transport: ['sip'],
  transaction: ['sip', 'transport'],
  proxy: ['sip', 'transport', 'transaction'],
  rtjson: ['sip', 'proxy'],
  redis: [],
  htable: ['redis'],
  dispatcher: ['redis'],
  keepalive: ['sip', 'transport', 'transaction', 'redis', 'dispatcher'],
};

const layerRules = Object.entries(LAYERS).map(([pkg, allowed]) => ({
  name: `layer-${pkg}`,
  comment: `@sipfleet/${pkg} may import only: ${allowed.map((a) => `@sipfleet/${a}`).join(', ') || 'no other package'}`,
  severity: 'error',
  from: { path: `^packages/${pkg}/` },
  to: {
    path: '^packages/([^/]+)/',
    pathNot: [`^packages/(${[pkg, ...allowed].join('|')})/`],
  },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle: split the file that both sides need, or pass a narrow interface.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'libraries-never-import-processes',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^services/' },
    },
    ...layerRules,
  ],
  options: {
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: ['/test/', '/bench/', '\\.test\\.ts$'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'types'] },
  },
};
