#!/usr/bin/env node
// The `emo` command. It runs the compiled JS when `npm run build` made it after the last source
// change, and the TypeScript directly through tsx otherwise (no build step to forget).
import { freshCompiledMain } from './compiled.mjs';

// `emo run` is an interactive command: its logs would drown the progress bars and summaries, so it
// logs warnings and errors only unless EMOSTREAM_LOG_LEVEL says otherwise. Services log at info.
if (process.argv[2] === 'run' && !process.env.EMOSTREAM_LOG_LEVEL) process.env.EMOSTREAM_LOG_LEVEL = 'warn';

// onnxruntime (1.2x+) sends usage telemetry over HTTPS unless told not to: cameras' analytics stay home.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

const compiled = freshCompiledMain();
if (compiled) {
  await import(compiled);
} else {
  // An image carries the compiled JS without tsx (deploy/docker/prune-runtime.sh): say so, not ERR_MODULE_NOT_FOUND.
  const tsx = await import('tsx/esm/api').catch(() => {
    console.error('emo: no current compiled build (npm run build) and no tsx to run the TypeScript sources');
    process.exit(1);
  });
  tsx.register();
  await import('../src/main.ts');
}
