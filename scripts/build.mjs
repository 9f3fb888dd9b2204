#!/usr/bin/env node
/**
 * `npm run build`: compiles every workspace package to its dist/ (`tsc -b`), then points the compiled
 * imports of workspace packages (`@emostream/shared`, `@emostream/face/main`, …), which the packages'
 * exports map to their TypeScript sources for tsx, at the compiled files, and stamps the build last.
 * `emo` (cli/bin/emo.mjs) runs the compiled JS only while that stamp is newer than every source file.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildStamp, ROOT, workspaces } from '@emostream/cli/compiled';

const tsc = path.join(ROOT, 'node_modules', '.bin', 'tsc');
const compiled = spawnSync(tsc, ['-b'], { cwd: ROOT, stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);

/** Every workspace export that maps to a source file, as the compiled file it becomes. */
const targets = new Map();
for (const dir of workspaces()) {
  const { name, exports = {} } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  for (const [subpath, source] of Object.entries(exports)) {
    if (typeof source !== 'string' || !source.startsWith('./src/') || !source.endsWith('.ts')) continue;
    const specifier = subpath === '.' ? name : `${name}/${subpath.slice(2)}`;
    targets.set(specifier, path.join(dir, 'dist', source.slice(2).replace(/\.ts$/, '.js')));
  }
}

// Static imports and re-exports (`from '…'`), side-effect imports and dynamic `import('…')`.
const workspaceImport = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(@emostream\/[^'"]+)\2/g;
let rewritten = 0;
for (const dir of workspaces()) {
  let files;
  try {
    files = readdirSync(path.join(dir, 'dist', 'src'), { recursive: true }).filter((f) => f.endsWith('.js'));
  } catch {
    continue; // no compiled sources (the test package)
  }
  for (const file of files) {
    const full = path.join(dir, 'dist', 'src', file);
    const code = readFileSync(full, 'utf8');
    const out = code.replace(workspaceImport, (_, lead, quote, specifier) => {
      const target = targets.get(specifier);
      if (!target) throw new Error(`${full} imports ${specifier}, which no workspace package exports from src/`);
      let relative = path.relative(path.dirname(full), target).split(path.sep).join('/');
      if (!relative.startsWith('.')) relative = `./${relative}`;
      return `${lead}${quote}${relative}${quote}`;
    });
    if (out !== code) {
      writeFileSync(full, out);
      rewritten += 1;
    }
  }
}
writeFileSync(buildStamp(), `${JSON.stringify({ builtAt: new Date().toISOString() })}\n`);
console.log(`compiled; ${rewritten} files now import the compiled workspace packages; stamped ${path.relative(ROOT, buildStamp())}`);
