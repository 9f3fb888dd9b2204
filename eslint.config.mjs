// Lint: type-aware typescript-eslint for the mistakes the compiler lets through (a promise nobody
// awaits, an async callback where a sync one is expected) and the house's import boundaries:
// packages meet only through their public entries, the testing entry stays out of production code,
// and no import cycles. `npm run lint`; part of `npm test`.
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const PACKAGE_DIRS = [
  'libs/shared',
  'libs/vision',
  'libs/models',
  'services/ingest',
  'services/face',
  'services/backbone',
  'services/temporal',
  'services/sink',
  'cli',
];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/*.d.ts',
      'libs/shared/src/contracts/gen/**',
      '.cache/**',
      '.gpu*/**',
      'models/**',
      'test-artifacts/**',
    ],
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    // TypeScript's resolution (`./x.js` is `./x.ts`, workspace packages by name), so cycles and package reaches are seen.
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
      '@typescript-eslint/no-misused-promises': 'error',
      // Dead imports and variables hide what a file really uses; `_name` marks one kept on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'import-x/no-cycle': 'error',
      // A relative path into another workspace package (../../face/src/…) is a reach past its public entry.
      'import-x/no-relative-packages': 'error',
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@emostream/*/src', '@emostream/*/src/**'],
              message: 'Import another package through its public entry (@emostream/<name>), never its src/.',
            },
          ],
        },
      ],
    },
  },
  {
    // Production code never imports the testing helpers (real media paths, throwaway brokers).
    files: PACKAGE_DIRS.map((dir) => `${dir}/src/**/*.ts`),
    ignores: ['*/*/src/testing.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@emostream/*/testing'], message: 'A testing entry is for tests, benchmarks and scripts only.' },
            {
              group: ['@emostream/*/src', '@emostream/*/src/**'],
              message: 'Import another package through its public entry (@emostream/<name>), never its src/.',
            },
          ],
        },
      ],
    },
  },
  {
    // emo run's handlers stay small enough to read at once (issue 28): a longer one is split by what it does.
    files: ['cli/src/**/*.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
);
