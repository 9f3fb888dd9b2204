// The lint rules are proved, not trusted: each rule the house relies on (eslint.config.mjs) is run against a
// probe that breaks it and must fail with that rule's id, and a clean probe must pass. The probes live in a
// throwaway copy of the repo's layout under the OS temp dir (libs/, services/, cli/, bench/, scripts/, test/,
// each with its own package.json and tsconfig.json, node_modules linked to the real one), linted with the
// real config — never written into a package's src/.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface ProbePackage {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  exports?: Record<string, string>;
}

/** Workspace packages of the probe repo; each declares exactly what its probes are allowed to import. */
const PACKAGES: Record<string, ProbePackage> = {
  'libs/shared': { name: '@emostream/shared', exports: { '.': './src/index.ts', './testing': './src/testing.ts' } },
  // vision declares face and cli so that the layering rule, not the undeclared-dependency rule, is what refuses them.
  'libs/vision': {
    name: '@emostream/vision',
    dependencies: { '@emostream/shared': '*', '@emostream/face': '*', '@emostream/cli': '*' },
    devDependencies: { 'fast-check': '*' },
  },
  'services/face': { name: '@emostream/face', dependencies: { '@emostream/shared': '*', '@emostream/fixtures': '*' } },
  'services/sink': { name: '@emostream/sink', dependencies: { '@emostream/shared': '*', '@emostream/face': '*' } },
  cli: { name: '@emostream/cli', dependencies: { '@emostream/shared': '*' }, devDependencies: { 'prom-client': '*' } },
  test: { name: '@emostream/test', exports: { './scenes': './scenes.ts' } },
  fixtures: { name: '@emostream/fixtures', exports: { './scenes': './src/scenes.ts' } },
};

/** Probe files by path in the probe repo; a file named `clean-*` must lint clean, every other one breaks a rule. */
const PROBES: Record<string, string> = {
  'libs/shared/src/index.ts': 'export const shared = 1;\n',
  'libs/shared/src/testing.ts': 'export const sharedData = 2;\n',
  'services/face/src/index.ts': 'export const face = 3;\n',
  'fixtures/src/scenes.ts': 'export const fixtureScene = 7;\n',
  'cli/src/index.ts': 'export const cli = 4;\n',
  'test/scenes.ts': 'export const scene = 5;\n',
  'libs/vision/test/helper.mjs': 'export const helper = 6;\n',

  // typescript-eslint's recommended type-checked preset.
  'libs/vision/src/preset.ts': [
    'async function work(): Promise<void> {',
    '  await Promise.resolve();',
    '}',
    'export function start(): void {',
    '  work();',
    '}',
    'export function field(input: any): unknown {',
    '  const value: { deep: unknown } = input.deep;',
    '  return value;',
    '}',
    'export async function awaitsAValue(): Promise<number> {',
    '  return await 1;',
    '}',
    'export const twice = (n: number): number => (n as number) * 2;',
    '',
  ].join('\n'),
  // The preset whole, where it once was loosened: require-await was off everywhere (test fakes of async interfaces),
  // the no-unsafe-* family off in the deploy checks that walk parsed YAML.
  'services/face/test/fake-detector.test.ts': [
    'export const detector = {',
    '  async detect(): Promise<number[]> {',
    '    return [];',
    '  },',
    '};',
    '',
  ].join('\n'),
  'deploy/test/policy.test.ts': [
    "import { parse } from 'yaml';",
    "const manifest = parse('kind: Deployment');",
    'export const kind: unknown = manifest.kind;',
    '',
  ].join('\n'),
  // ESLint's recommended rules on plain JavaScript.
  'scripts/js-recommended.mjs': 'const unused = 1;\nexport const value = undeclaredGlobal;\n',

  // Layering: libs never import services or the CLI; services never import each other nor the fixtures; bench and scripts never import tests.
  'libs/vision/src/layer-service.ts': "import { face } from '@emostream/face';\nexport const probe = face;\n",
  'libs/vision/src/layer-cli.ts': "import { cli } from '@emostream/cli';\nexport const probe = cli;\n",
  'services/sink/src/layer-service.ts': "import { face } from '@emostream/face';\nexport const probe = face;\n",
  'services/face/src/layer-fixtures.ts': "import { fixtureScene } from '@emostream/fixtures/scenes';\nexport const probe = fixtureScene;\n",
  'bench/layer-tests.ts': "import { scene } from '@emostream/test/scenes';\nexport const probe = scene;\n",
  'scripts/layer-tests.mjs': "import { helper } from '../libs/vision/test/helper.mjs';\nexport const probe = helper;\n",

  // Undeclared dependencies: a package not in the nearest package.json, and a devDependency in production code.
  'cli/src/undeclared.ts': "import { Registry } from 'prom-client';\nexport const probe = new Registry();\n",
  'libs/vision/src/dev-only.ts': "import fc from 'fast-check';\nexport const probe = fc.integer();\n",

  // Boundaries kept from before: public entries only, no testing entry in production, no cycles.
  'services/sink/src/boundaries.ts': [
    "import { shared } from '@emostream/shared/src/index.js';",
    "import { face } from '../../face/src/index.js';",
    "import { sharedData } from '@emostream/shared/testing';",
    'export const probe = [shared, face, sharedData];',
    '',
  ].join('\n'),
  'services/sink/src/cycle-a.ts': "import { b } from './cycle-b.js';\nexport const a = (): number => b() + 1;\n",
  'services/sink/src/cycle-b.ts': "import { a } from './cycle-a.js';\nexport const b = (): number => (typeof a === 'function' ? 0 : 1);\n",

  // What the rules allow: declared imports through public entries, a devDependency in a test, awaited promises.
  'services/sink/src/clean-stage.ts': [
    "import { shared } from '@emostream/shared';",
    'async function work(): Promise<number> {',
    '  return Promise.resolve(shared);',
    '}',
    'export async function run(): Promise<number> {',
    '  return (await work()) + 1;',
    '}',
    '',
  ].join('\n'),
  'cli/test/clean-dev-dependency.test.ts': "import { Registry } from 'prom-client';\nexport const registry = new Registry();\n",
  'scripts/clean-script.mjs': "import { readFileSync } from 'node:fs';\nexport const read = (file) => readFileSync(file, 'utf8');\n",
};

let probeRoot = '';
let found: Map<string, string[]>;

/** A copy of the repo's layout in a temp dir: the root's configs, packages with their own package.json and tsconfig, node_modules linked. */
function writeProbeRepo(dir: string): void {
  for (const file of ['package.json', 'tsconfig.base.json']) copyFileSync(path.join(root, file), path.join(dir, file));
  // Third-party packages are the real ones; the workspace packages are the probe's own.
  mkdirSync(path.join(dir, 'node_modules', '@emostream'), { recursive: true });
  for (const entry of readdirSync(path.join(root, 'node_modules'))) {
    if (entry !== '@emostream' && entry !== '.bin')
      symlinkSync(path.join(root, 'node_modules', entry), path.join(dir, 'node_modules', entry));
  }
  const tsconfig = (include: string[]) => JSON.stringify({ extends: '../tsconfig.base.json', compilerOptions: { noEmit: true }, include });
  for (const [pkgDir, pkg] of Object.entries(PACKAGES)) {
    mkdirSync(path.join(dir, pkgDir), { recursive: true });
    const depth = pkgDir.split('/').length;
    writeFileSync(path.join(dir, pkgDir, 'package.json'), JSON.stringify({ type: 'module', exports: { '.': './src/index.ts' }, ...pkg }));
    writeFileSync(
      path.join(dir, pkgDir, 'tsconfig.json'),
      JSON.stringify({ extends: `${'../'.repeat(depth)}tsconfig.base.json`, compilerOptions: { noEmit: true }, include: ['**/*.ts'] }),
    );
    symlinkSync(path.join(dir, pkgDir), path.join(dir, 'node_modules', pkg.name));
  }
  mkdirSync(path.join(dir, 'bench'), { recursive: true });
  writeFileSync(path.join(dir, 'bench', 'tsconfig.json'), tsconfig(['*.ts']));
  mkdirSync(path.join(dir, 'deploy'), { recursive: true });
  writeFileSync(path.join(dir, 'deploy', 'tsconfig.json'), tsconfig(['test/*.ts']));
  for (const [file, text] of Object.entries(PROBES)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
}

before(async () => {
  probeRoot = mkdtempSync(path.join(os.tmpdir(), 'emostream-lint-probes-'));
  writeProbeRepo(probeRoot);
  const eslint = new ESLint({ cwd: probeRoot, overrideConfigFile: path.join(root, 'eslint.config.mjs') });
  // import-x/no-restricted-paths resolves its zones against the process's working directory (as `npm run lint`
  // runs at the repo root), not ESLint's cwd option.
  const cwd = process.cwd();
  process.chdir(probeRoot);
  let results: ESLint.LintResult[];
  try {
    results = await eslint.lintFiles(Object.keys(PROBES).map((file) => path.join(probeRoot, file)));
  } finally {
    process.chdir(cwd);
  }
  found = new Map(
    results.map((r) => [path.relative(probeRoot, r.filePath), r.messages.map((m) => `${m.ruleId ?? 'fatal'}: ${m.message}`)]),
  );
});

after(() => {
  if (probeRoot) rmSync(probeRoot, { recursive: true, force: true });
});

function assertFires(file: string, rule: string, message?: RegExp): void {
  const messages = found.get(file);
  assert.ok(messages, `${file} was not linted`);
  assert.ok(
    messages.some((m) => m.startsWith(`${rule}: `) && (!message || message.test(m))),
    `${rule}${message ? ` (${String(message)})` : ''} did not fire on ${file}; lint said:\n${messages.join('\n') || '(nothing)'}`,
  );
}

test('the recommended type-checked preset runs on TypeScript: floating promise, unsafe any, await of a non-promise, needless assertion', () => {
  for (const rule of [
    'no-floating-promises',
    'no-explicit-any',
    'no-unsafe-member-access',
    'no-unsafe-assignment',
    'await-thenable',
    'no-unnecessary-type-assertion',
  ]) {
    assertFires('libs/vision/src/preset.ts', `@typescript-eslint/${rule}`);
  }
});

test('the preset applies whole, where it was once loosened: an async function with no await in a test, any from parsed YAML in a deploy check', () => {
  assertFires('services/face/test/fake-detector.test.ts', '@typescript-eslint/require-await');
  assertFires('deploy/test/policy.test.ts', '@typescript-eslint/no-unsafe-assignment');
  assertFires('deploy/test/policy.test.ts', '@typescript-eslint/no-unsafe-member-access', /\.kind/);
});

test("ESLint's recommended rules run on plain JavaScript (.mjs): undefined global, unused variable", () => {
  assertFires('scripts/js-recommended.mjs', 'no-undef');
  assertFires('scripts/js-recommended.mjs', 'no-unused-vars');
});

test('layering: a lib importing a service or the CLI, a service importing another or the fixtures, bench or scripts importing tests', () => {
  assertFires('libs/vision/src/layer-service.ts', 'import-x/no-restricted-paths', /A lib never imports a service/);
  assertFires('libs/vision/src/layer-cli.ts', 'import-x/no-restricted-paths', /A lib never imports a service or the CLI/);
  assertFires('services/sink/src/layer-service.ts', 'import-x/no-restricted-paths', /A service never imports another service/);
  assertFires('services/face/src/layer-fixtures.ts', 'import-x/no-restricted-paths', /never imports the fixtures/);
  assertFires('bench/layer-tests.ts', 'import-x/no-restricted-paths', /never import tests/);
  assertFires('scripts/layer-tests.mjs', 'import-x/no-restricted-paths', /never import tests/);
});

test('undeclared dependencies: a package missing from its package.json, a devDependency in production code', () => {
  assertFires(
    'cli/src/undeclared.ts',
    'import-x/no-extraneous-dependencies',
    /'prom-client' should be listed in the project's dependencies/,
  );
  assertFires('libs/vision/src/dev-only.ts', 'import-x/no-extraneous-dependencies', /not devDependencies/);
});

test("boundaries: another package's src/, a relative reach into a package, the testing entry in production, a cycle", () => {
  assertFires('services/sink/src/boundaries.ts', 'no-restricted-imports', /never its src\//);
  assertFires('services/sink/src/boundaries.ts', 'import-x/no-relative-packages');
  assertFires('services/sink/src/boundaries.ts', 'no-restricted-imports', /testing entry/);
  assertFires('services/sink/src/cycle-a.ts', 'import-x/no-cycle');
});

test('clean probes pass: declared imports through public entries, a devDependency in a test, awaited promises', () => {
  for (const [file, messages] of found) {
    if (path.basename(file).startsWith('clean-')) assert.deepEqual(messages, [], `${file} should lint clean`);
  }
  assert.equal([...found.keys()].filter((f) => path.basename(f).startsWith('clean-')).length, 3, 'all three clean probes were linted');
});
