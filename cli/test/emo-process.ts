import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

export interface EmoProcess {
  child: ChildProcess;
  /** What it printed so far. */
  stdout(): string;
  stderr(): string;
  /** Its exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

/** `emo run <args>` as a child process that this one can talk to (signals) while it runs; logs off. */
export function startEmoRun(args: string[]): EmoProcess {
  const child = spawn(process.execPath, [emo, 'run', ...args], {
    env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'fatal' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return { child, stdout: () => stdout, stderr: () => stderr, exited: once(child, 'exit').then(([code]) => code as number | null) };
}
