#!/usr/bin/env node
// The `emo` command. The project runs its TypeScript directly through tsx (no build step to forget).
import { register } from 'tsx/esm/api';

register();
await import('../src/main.ts');
