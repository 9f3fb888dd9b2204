#!/usr/bin/env node
// Runs scripts/test.mjs's jobs (test files, and checks such as lint) on a few workers side by side,
// each job its own process, and prints each job's report whole when it ends, then the slowest test
// files. `node scripts/test-lanes.mjs <plan.json>`, where the plan is
//   { runner: [node args for one test file], slowest, timings: <file>,
//     queues: [{ name, files, commands: [[command, ...args]], nice, broker }],
//     workers: [[queue names, in the order the worker serves them]] }.
//
// Why a pool: the tests against the broker wait much of their time (broker outages, session
// timeouts, processes starting) while the unit files and checks need CPU, so they share the cores
// best when whichever worker is free takes the next job. The queues keep what must not overlap apart:
// a worker serves its queues in order and a queue's jobs run one at a time unless the queue is
// served by several workers. So the broker tests run one at a time (a worker of their own), the
// fault tests that take the broker away run on a broker of their own, so their outages never reach
// the others, and the rest (nice, without a broker's address: a test that reaches for Kafka there
// fails loudly naming KAFKA_BROKERS) fill every gap. Longest jobs first, by the last run's times
// (kept in `timings`), so no long job starts at the end.
//
// A queue's `broker` names the broker its jobs get (KAFKA_BROKERS, and KAFKA_CONTROL_URL: the fault
// switch of scripts/with-kafka.mjs): each named broker is a fresh single-node Kafka started here when
// a job first needs it, while the jobs without one already run, and stopped at the end. A broker
// that cannot start fails its queue's jobs with the reason: Kafka tests are never skipped.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const lastSeconds = existsSync(plan.timings) ? JSON.parse(readFileSync(plan.timings, 'utf8')) : {};

/** One job: a test file (run by the runner) or a check command; its key names it in the report. */
function jobsOf(queue) {
  const files = queue.files.map((file) => ({ key: file, isFile: true, argv: [process.execPath, ...plan.runner, file] }));
  const label = (argv) => argv.map((arg) => (path.isAbsolute(arg) ? path.relative(root, arg) : arg)).join(' ');
  const commands = (queue.commands ?? []).map((argv) => ({ key: label(argv), isFile: false, argv }));
  // Longest first by the last run; a job not timed yet (new, or a fresh clone) counts by its source's
  // size, a rough stand-in, and a check first of all.
  const weight = (job) => lastSeconds[job.key] ?? (job.isFile ? statSync(path.join(root, job.key)).size / 1000 : Number.POSITIVE_INFINITY);
  // Weighed once each, not in every comparison of the sort.
  return [...commands, ...files]
    .map((job) => ({ job, weight: weight(job) }))
    .sort((a, b) => b.weight - a.weight)
    .map(({ job }) => job);
}

const brokers = new Map(); // name → Promise of { env, stop }

/** The broker `name`, started on first use. */
function broker(name) {
  if (!brokers.has(name)) {
    const starting = (async () => {
      const { ensureJars, serveBrokerControl, startKafka } = await import('./kafka/kafka.mjs');
      ensureJars({ quiet: true });
      const kafka = await startKafka();
      const control = await serveBrokerControl(kafka);
      return {
        env: { KAFKA_BROKERS: kafka.brokers, KAFKA_CONTROL_URL: control.url },
        stop: async () => {
          await control.close();
          await kafka.stop();
        },
      };
    })();
    starting.catch(() => {}); // each job that needs it reports the failure
    brokers.set(name, starting);
  }
  return brokers.get(name);
}

async function envFor(queue) {
  const env = { ...process.env };
  for (const name of ['KAFKA_BROKERS', 'KAFKA_CONTROL_URL']) delete env[name];
  return queue.broker ? { ...env, ...(await broker(queue.broker)).env } : env;
}

/** Runs one job; resolves with its exit status, seconds and whole output. */
function runJob(job, queue, env) {
  const [command, ...args] = queue.nice ? ['nice', '-n', String(queue.nice), ...job.argv] : job.argv;
  const started = Date.now();
  const child = spawn(command, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  child.stdout.on('data', (chunk) => output.push(chunk));
  child.stderr.on('data', (chunk) => output.push(chunk));
  return new Promise((resolve) => {
    child.on('error', (error) => output.push(Buffer.from(`${error.message}\n`)));
    child.on('close', (code, signal) =>
      resolve({ status: code ?? 1, signal, seconds: (Date.now() - started) / 1000, output: Buffer.concat(output) }),
    );
  });
}

const queues = new Map(plan.queues.map((queue) => [queue.name, { ...queue, jobs: jobsOf(queue) }]));
const results = [];

async function worker(served) {
  for (;;) {
    const queue = served.map((name) => queues.get(name)).find((q) => q.jobs.length > 0);
    if (!queue) return;
    const job = queue.jobs.shift();
    const result = await envFor(queue).then(
      (env) => runJob(job, queue, env),
      (error) => ({
        status: 1,
        seconds: 0,
        output: Buffer.from(`Kafka broker "${queue.broker}" could not be started: ${error.message}\n`),
      }),
    );
    const verdict = result.status === 0 ? 'passed' : `FAILED (exit ${result.signal ?? result.status})`;
    process.stdout.write(`\n» ${job.key} (${queue.name}): ${result.seconds.toFixed(0)} s, ${verdict}\n`);
    process.stdout.write(result.output);
    results.push({ ...job, queue: queue.name, ...result });
  }
}

const started = Date.now();
try {
  await Promise.all(plan.workers.map(worker));
} finally {
  for (const starting of brokers.values())
    await starting.then(
      (b) => b.stop(),
      () => {},
    );
}

for (const queue of plan.queues) {
  const done = results.filter((r) => r.queue === queue.name);
  const failed = done.filter((r) => r.status !== 0).length;
  console.log(`» ${queue.name}: ${done.length} jobs, ${failed === 0 ? 'all passed' : `${failed} FAILED`}`);
}
console.log(`» ${results.length} jobs on ${plan.workers.length} workers in ${((Date.now() - started) / 1000).toFixed(0)} s`);
const files = results.filter((r) => r.isFile).sort((a, b) => b.seconds - a.seconds);
console.log(`\n» the ${Math.min(plan.slowest, files.length)} slowest test files (of ${files.length}; seconds, load time included)`);
for (const { key, seconds } of files.slice(0, plan.slowest)) console.log(`${seconds.toFixed(1).padStart(7)}  ${key}`);
for (const failed of results.filter((r) => r.status !== 0)) console.log(`FAILED: ${failed.key}`);

mkdirSync(path.dirname(plan.timings), { recursive: true });
writeFileSync(
  plan.timings,
  JSON.stringify({ ...lastSeconds, ...Object.fromEntries(results.map((r) => [r.key, Math.round(r.seconds)])) }, null, 1),
);
process.exit(results.some((r) => r.status !== 0) ? 1 : 0);
