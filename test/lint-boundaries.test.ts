// The package boundaries are enforced by the linter, not by discipline: a probe file that reaches into
// another package's src/, or imports the testing entry from production code, or forms an import cycle,
// must fail `npm run lint` with the rule that names the problem.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Writes probe files into a package's src/ (where its tsconfig and the lint rules apply), lints them, removes them. */
async function lintProbes(files: Record<string, string>): Promise<ESLint.LintResult[]> {
  const paths = Object.keys(files).map((name) => path.join(root, 'services/sink/src', name));
  try {
    Object.values(files).forEach((text, i) => writeFileSync(paths[i]!, text));
    return await new ESLint({ cwd: root }).lintFiles(paths);
  } finally {
    for (const p of paths) rmSync(p, { force: true });
  }
}

const messages = (results: ESLint.LintResult[]) =>
  results.flatMap((r) => r.messages.map((m) => `${path.basename(r.filePath)} ${m.ruleId}: ${m.message}`));

test('lint refuses a reach into another package, the testing entry in production code, and an import cycle', async () => {
  const results = await lintProbes({
    'lint-probe-src.ts': [
      "import { topics } from '@emostream/shared/src/contracts/index.js';",
      "import { faceStage } from '../../face/src/handler.js';",
      "import { sharedData } from '@emostream/shared/testing';",
      'export const probe = [topics, faceStage, sharedData];',
      '',
    ].join('\n'),
    'lint-probe-cycle-a.ts': "import { b } from './lint-probe-cycle-b.js';\nexport const a = (): number => b() + 1;\n",
    'lint-probe-cycle-b.ts':
      "import { a } from './lint-probe-cycle-a.js';\nexport const b = (): number => (typeof a === 'function' ? 0 : 1);\n",
  });
  const found = messages(results);
  const expect = (pattern: RegExp, what: string) =>
    assert.ok(
      found.some((m) => pattern.test(m)),
      `${what} was not reported; lint said:\n${found.join('\n')}`,
    );
  expect(/lint-probe-src\.ts no-restricted-imports: .*never its src\//, 'the import of @emostream/shared/src');
  expect(/lint-probe-src\.ts import-x\/no-relative-packages/, 'the relative import of ../../face/src');
  expect(/lint-probe-src\.ts no-restricted-imports: .*testing entry/, 'the testing entry in production code');
  expect(/lint-probe-cycle-a\.ts import-x\/no-cycle/, 'the import cycle');
});

test('lint refuses a promise nobody awaits', async () => {
  const results = await lintProbes({
    'lint-probe-promise.ts': 'async function work(): Promise<void> {}\nexport function start(): void {\n  work();\n}\n',
  });
  assert.ok(
    messages(results).some((m) => /no-floating-promises/.test(m)),
    messages(results).join('\n'),
  );
});
