import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The real test media beside the checkout (../shared/data). Missing media fail the test, never skip it. */
export function sharedData(relative: string): string {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
  const file = path.resolve(root, '..', 'shared', 'data', relative);
  if (!existsSync(file)) throw new Error(`test media missing: ${file} (tests read ../shared/data beside the checkout)`);
  return file;
}
