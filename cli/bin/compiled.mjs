// Whether `emo` can run the compiled JS (`npm run build`) instead of compiling TypeScript through tsx
// at every start (about half a second saved per command). Plain JS: it runs before any TypeScript can.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Written last by `npm run build`: its time is the build's. */
export const buildStamp = (root = ROOT) => path.join(root, 'cli', 'dist', 'build-stamp.json');

/** The workspace packages (folders) of the repository. */
export function workspaces(root = ROOT) {
  const { workspaces: list } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
  return list.map((dir) => path.join(root, dir));
}

/** The newest modification time (ms) of the packages' sources and package.json files. */
export function newestSourceMs(root = ROOT) {
  let newest = 0;
  for (const dir of workspaces(root)) {
    newest = Math.max(newest, statSync(path.join(dir, 'package.json')).mtimeMs);
    let files;
    try {
      files = readdirSync(path.join(dir, 'src'), { recursive: true });
    } catch {
      continue; // a package without src/ (the test package)
    }
    for (const file of files) {
      if (file.endsWith('.ts')) newest = Math.max(newest, statSync(path.join(dir, 'src', file)).mtimeMs);
    }
  }
  return newest;
}

/**
 * The compiled entry point when the last build is newer than every source file; undefined when
 * there is no build or a source changed since (the TypeScript then runs through tsx, never stale JS).
 */
export function freshCompiledMain(root = ROOT) {
  let built;
  try {
    built = statSync(buildStamp(root)).mtimeMs;
  } catch {
    return undefined;
  }
  // A plain `tsc -b` after the build (the type-check `npm test` runs) re-emits what changed without
  // pointing its imports at compiled files: its build info is then newer than the stamp.
  const compiledSince = workspaces(root).some((dir) => {
    try {
      return statSync(path.join(dir, 'dist', 'tsconfig.tsbuildinfo')).mtimeMs > built;
    } catch {
      return false;
    }
  });
  return !compiledSince && built >= newestSourceMs(root) ? path.join(root, 'cli', 'dist', 'src', 'main.js') : undefined;
}
