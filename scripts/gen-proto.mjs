// Regenerates libs/shared/src/contracts/gen from libs/shared/proto with buf + protoc-gen-es.
// The generated files are committed; a test checks they match the schemas.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(root, 'node_modules', '.bin');
execFileSync(path.join(bin, 'buf'), ['generate'], {
  cwd: path.join(root, 'libs', 'shared'),
  stdio: 'inherit',
  env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
});
console.log('generated libs/shared/src/contracts/gen from libs/shared/proto');
