// `npm run models`: builds the default pack into models/default (or the folder given as argument).
import { resolve } from 'node:path';
import { writeDefaultPack } from './default-pack.js';

const dir = resolve(process.argv[2] ?? 'models/default');
const started = Date.now();
const pack = await writeDefaultPack(dir);
for (const [file, bytes] of pack.files) console.log(`${file}  ${(bytes.length / 1e6).toFixed(1)} MB`);
console.log(`default pack written to ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
