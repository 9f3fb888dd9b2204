// `npm run docs:settings`: writes docs/settings.md from the settings declarations (fromEnv in the
// schemas). cli/test/settings-doc.test.ts fails while the page differs from what this writes.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { packageDir } from '@emostream/shared';
import { settingsMarkdown } from './settings-reference.js';

const file = path.resolve(packageDir(import.meta.url), '../docs/settings.md');
writeFileSync(file, settingsMarkdown());
console.log(`settings reference written to ${file}`);
