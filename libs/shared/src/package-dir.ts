import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The folder of the package a module belongs to (the nearest folder above it with a package.json),
 * from the module's `import.meta.url`. The same answer whether the module runs from `src/` through
 * tsx or compiled from `dist/src/`, so paths to a package's files and to the repository hold in both.
 */
export function packageDir(moduleUrl: string): string {
  let dir = path.dirname(fileURLToPath(moduleUrl));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(moduleUrl)}`);
    dir = parent;
  }
  return dir;
}
