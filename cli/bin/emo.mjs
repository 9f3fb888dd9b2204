#!/usr/bin/env node
// The `emo` command. It runs the compiled JS when `npm run build` made it after the last source
// change, and the TypeScript directly through tsx otherwise (no build step to forget).
import { freshCompiledMain } from './compiled.mjs';

// `emo run` is an interactive command: its logs would drown the progress bars and summaries, so it
// logs warnings and errors only unless EMOSTREAM_LOG_LEVEL says otherwise. Services log at info.
if (process.argv[2] === 'run' && !process.env.EMOSTREAM_LOG_LEVEL) process.env.EMOSTREAM_LOG_LEVEL = 'warn';

const compiled = freshCompiledMain();
if (compiled) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/main.ts');
}
