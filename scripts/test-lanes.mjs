#!/usr/bin/env node
// Runs scripts/test.mjs's test files in lanes, side by side, each lane one node:test runner with one
// file at a time; then prints the slowest files. `node scripts/test-lanes.mjs <plan.json>`, where the
// plan is { runner: [node args], lanes: [{ name, files, nice, buffered, withoutBroker }], slowest }.
//
// Why lanes: the tests against the broker wait much of their time (broker outages, session timeouts,
// processes starting), and they stay one at a time, as before: a fault test takes the broker away,
// and two of them at once would fight for it. The unit files (no broker, no system services) run
// beside them in a lane of their own, at a lower CPU priority (nice), so they fill the waits without
// slowing the broker lane much. The unit lane's report is kept and printed whole when it ends, so the
// log reads one file after another.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timingsDir = mkdtempSync(path.join(tmpdir(), 'emostream-test-timings-'));
const reporter = path.join(root, 'scripts', 'test-timings-reporter.mjs');

function runLane(lane, index) {
  const timings = path.join(timingsDir, `${index}.jsonl`);
  writeFileSync(timings, '');
  const args = [
    ...plan.runner,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${reporter}`,
    `--test-reporter-destination=${timings}`,
    ...lane.files,
  ];
  const [command, commandArgs] = lane.nice ? ['nice', ['-n', String(lane.nice), process.execPath, ...args]] : [process.execPath, args];
  const started = Date.now();
  // A lane without the broker does not see it: a file that reaches for Kafka there (misclassified)
  // fails loudly naming KAFKA_BROKERS, instead of racing a fault test that takes the broker away.
  const env = { ...process.env };
  if (lane.withoutBroker) for (const name of ['KAFKA_BROKERS', 'KAFKA_CONTROL_URL']) delete env[name];
  const child = spawn(command, commandArgs, {
    cwd: root,
    env,
    stdio: ['ignore', lane.buffered ? 'pipe' : 'inherit', lane.buffered ? 'pipe' : 'inherit'],
  });
  const output = [];
  if (lane.buffered) {
    child.stdout.on('data', (chunk) => output.push(chunk));
    child.stderr.on('data', (chunk) => output.push(chunk));
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(0);
      if (lane.buffered) {
        process.stdout.write(`\n» ${lane.name}: its report (it ran beside the other lane)\n`);
        process.stdout.write(Buffer.concat(output));
      }
      const status = code ?? 1;
      process.stdout.write(
        `» ${lane.name}: ${lane.files.length} files in ${seconds} s, ${status === 0 ? 'passed' : `FAILED (exit ${code ?? signal})`}\n`,
      );
      resolve({ status, timings });
    });
  });
}

const lanes = plan.lanes.filter((lane) => lane.files.length > 0);
const results = await Promise.all(lanes.map(runLane));
const files = results
  .flatMap(({ timings }) => readFileSync(timings, 'utf8').split('\n').filter(Boolean))
  .map((line) => JSON.parse(line))
  .sort((a, b) => b.ms - a.ms);
rmSync(timingsDir, { recursive: true, force: true });
if (files.length > 0) {
  console.log(`\n» the ${Math.min(plan.slowest, files.length)} slowest test files (of ${files.length}; seconds, load time included)`);
  for (const { file, ms, whole } of files.slice(0, plan.slowest)) {
    console.log(`${(ms / 1000).toFixed(1).padStart(7)}  ${path.relative(root, file)}${whole ? '' : ' (its tests only)'}`);
  }
}
process.exit(results.some(({ status }) => status !== 0) ? 1 : 0);
