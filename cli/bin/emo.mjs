#!/usr/bin/env node
// The `emo` command. The project runs its TypeScript directly through tsx (no build step to forget).
import { register } from 'tsx/esm/api';

// `emo run` is an interactive command: its logs would drown the progress bars and summaries, so it
// logs warnings and errors only unless EMOSTREAM_LOG_LEVEL says otherwise. Services log at info.
if (process.argv[2] === 'run' && !process.env.EMOSTREAM_LOG_LEVEL) process.env.EMOSTREAM_LOG_LEVEL = 'warn';

register();
await import('../src/main.ts');
