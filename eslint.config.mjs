// Lint: every source file (.ts, .mjs, .js). TypeScript gets typescript-eslint's recommended type-checked preset,
// whole (no rule of it off, no file excepted), for the mistakes the compiler lets through (a promise nobody awaits,
// an async callback where a sync one is expected, an `async` function with nothing to await, `any` leaking
// through: untyped data such as parsed YAML or a library's CommonJS build is taken as `unknown` and narrowed);
// plain JavaScript gets ESLint's recommended rules. On top, the house's
// boundaries: packages meet only through their public entries, the testing entry stays out of production code,
// no import cycles, the layering (libs → services → cli; bench and scripts never lean on tests), and every
// import declared in the package.json of the package it is in. `npm run lint`; part of `npm test`;
// test/lint-rules.test.ts proves each rule fires.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const LIBS = ['shared', 'vision', 'models'];
const SERVICES = ['ingest', 'face', 'backbone', 'temporal', 'sink'];
const PACKAGE_DIRS = [...LIBS.map((name) => `libs/${name}`), ...SERVICES.map((name) => `services/${name}`), 'cli'];

const SRC_REACH = {
  group: ['@emostream/*/src', '@emostream/*/src/**'],
  message: 'Import another package through its public entry (@emostream/<name>), never its src/.',
};

// Where a package may take a devDependency: its tests, its testing entry, its build-time scripts, and the
// root's tooling (bench, scripts, deploy, examples), which the root package.json declares.
const DEV_ONLY_FILES = [
  '**/test/**',
  '**/*.test.ts',
  '**/*.test.mjs',
  '**/src/testing.ts',
  'libs/models/scripts/**',
  'libs/models/reference/**',
  'bench/**',
  'scripts/**',
  'deploy/**',
  'examples/**',
  'eslint.config.mjs',
];

// The layering, checked on resolved paths (so `@emostream/face` counts as services/face); the zones are relative to
// the working directory, the repo root when run as `npm run lint`.
// libs are the ground floor, services stand on libs only, the CLI composes services; tests are not a library
// (what tests and benchmarks share is in fixtures/, which production code never imports).
const LAYERS = [
  {
    target: './libs',
    from: ['./services', './cli'],
    message: 'A lib never imports a service or the CLI: libs are the layer below them.',
  },
  ...SERVICES.map((name) => ({
    target: `./services/${name}`,
    from: './services',
    except: [`./${name}`],
    message: 'A service never imports another service: share the code through a lib.',
  })),
  {
    target: ['./libs/*/src/**', './services/*/src/**', './cli/src/**'],
    from: ['./fixtures/**'],
    message: 'Production code never imports the fixtures: they are for tests and benchmarks.',
  },
  {
    target: ['./bench/**', './scripts/**', './*/*/scripts/**'],
    from: ['./test/**', './*/test/**', './*/*/test/**'],
    message: 'Benchmarks and scripts never import tests (@emostream/test or a test/ folder): what both need lives in fixtures/ or a lib.',
  },
];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/*.d.ts',
      '**/*.d.mts',
      'libs/shared/src/contracts/gen/**',
      '.cache/**',
      '.gpu*/**',
      'models/**',
      'test-artifacts/**',
      // Vendored, minified third-party code served as is.
      '**/vendor/**',
    ],
  },
  {
    // Rules for every file, TypeScript or JavaScript.
    files: ['**/*.ts', '**/*.mjs', '**/*.js'],
    plugins: { 'import-x': importX },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // TypeScript's resolution (`./x.js` is `./x.ts`, workspace packages by name), so cycles, layers and package reaches are seen.
    settings: {
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['tsconfig.json', '*/tsconfig.json', '*/*/tsconfig.json'],
          noWarnOnMultipleProjects: true,
        }),
      ],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js', '.mjs'],
    },
    rules: {
      // Within a package: a cycle between packages cannot build (tsc -b refuses circular project
      // references), and following imports into node_modules took a quarter of the lint's time (29 s → 10 s).
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // A relative path into another workspace package (../../face/src/…) is a reach past its public entry.
      'import-x/no-relative-packages': 'error',
      'import-x/no-restricted-paths': ['error', { zones: LAYERS }],
      // Each import is declared by the package.json nearest the file (a workspace package's own, or the root's for
      // bench/scripts/deploy); production code may use only `dependencies`.
      'import-x/no-extraneous-dependencies': [
        'error',
        { devDependencies: DEV_ONLY_FILES, optionalDependencies: false, peerDependencies: false, includeTypes: true },
      ],
      'no-restricted-imports': ['error', { patterns: [SRC_REACH] }],
    },
  },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's test()/describe()/it() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      // A `let` that a closure reads before its one assignment cannot become a `const` declared later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Passing on a caught or rejected `unknown` unchanged is how errors travel; only-throw-error allows it by default.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Dead imports and variables hide what a file really uses; `_name` marks one kept on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: globals.node },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // The live view's page script: a classic browser script, no modules, no Node.
    files: ['services/sink/src/live-view/static/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, JSMpeg: 'readonly' } },
  },
  {
    // Production code never imports the testing helpers (real media paths, throwaway brokers).
    files: PACKAGE_DIRS.map((dir) => `${dir}/src/**/*.ts`),
    ignores: ['*/*/src/testing.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [{ group: ['@emostream/*/testing'], message: 'A testing entry is for tests, benchmarks and scripts only.' }, SRC_REACH],
        },
      ],
    },
  },
  {
    // emo run's handlers and the stage runtime stay small enough to read at once (issue 28): a longer
    // function is split by what it does.
    files: ['cli/src/**/*.ts', 'libs/shared/src/runtime/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
