#!/usr/bin/env node
// A throwaway single-node Kafka broker for development, tests and benchmarks.
//
// Kafka is not on npm or apt and we have no Docker, so the broker's jars are
// fetched from Maven Central once (scripts/kafka/pom.xml -> .cache/kafka/libs)
// and the broker runs as a plain JVM in KRaft mode (no ZooKeeper).
//
//   node scripts/kafka/kafka.mjs fetch   download the jars only
//   node scripts/kafka/kafka.mjs start   run a broker until Ctrl-C / SIGTERM
//
// Programmatic use: `await startKafka()` -> { brokers, pid, logFile, stop(), kill(), restart() };
// scripts/with-kafka.mjs wraps a command with it.
//
// Fault tooling: kill() takes the broker away (SIGKILL: a crash, or SIGTERM) and
// restart() brings it back on the same port with the same data, so tests and
// operators can cut the bus and watch the pipeline ride it out. A process that
// did not start the broker reaches the same two calls over HTTP on loopback
// (serveBrokerControl: KAFKA_CONTROL_URL, printed by `start` and set by with-kafka):
//   curl -X POST "$KAFKA_CONTROL_URL/kill"        (or /kill?signal=SIGTERM)
//   curl -X POST "$KAFKA_CONTROL_URL/restart"     (answers once the broker is usable)
//
// Apart from Node built-ins this file uses kafkajs (already a dependency of
// libs/shared), only to check that the broker is really usable before
// startKafka() returns; it is imported lazily so `fetch` works without it.

import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePorts } from '../lib/ports.mjs';

// Newest 3.9 patch on Maven Central. Not 4.x: Kafka 4.0 dropped old protocol
// versions that kafkajs 2.x still sends. Passed to mvn as -Dkafka.version, so
// this constant (not the pom) decides what is downloaded; bumping it makes
// ensureJars() refetch because the stamp no longer matches.
export const KAFKA_VERSION = '3.9.2';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..', '..');
const POM = path.join(HERE, 'pom.xml');
const CACHE_DIR = path.join(REPO, '.cache', 'kafka'); // .cache/ is git-ignored
export const LIBS_DIR = path.join(CACHE_DIR, 'libs');
const STAMP_NAME = '.complete'; // written last, so a half-finished download never counts
const PID_FILE = path.join(CACHE_DIR, 'broker.pid');

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;
// Frames and face crops can exceed Kafka's 1 MB default message size.
const MAX_MESSAGE_BYTES = 10 * 1024 * 1024;

// Startup matters more than peak speed for a dev broker on a 2-core box:
// SerialGC avoids G1's background threads, and a small heap is plenty for a
// single node. Override with KAFKA_JVM_OPTS (space separated) if needed.
const DEFAULT_JVM_OPTS = ['-Xmx512m', '-Xms128m', '-XX:+UseSerialGC', '-Djava.awt.headless=true'];

// Class-data sharing: most of a broker start is the JVM loading and verifying
// ~5000 classes. The first broker dumps the classes it used into an archive
// when it exits (-XX:ArchiveClassesAtExit, a one-time ~10 s slower stop);
// later starts map it (-XX:SharedArchiveFile), which made startup ~40%
// faster on a 2-core box. A stale archive (other JDK/classpath) is ignored by
// the JVM with a warning in the log; delete the file to regenerate it.
// KAFKA_CDS=0 disables this.
const CDS_FILE = path.join(CACHE_DIR, `kafka-${KAFKA_VERSION}.jsa`);

// ---------------------------------------------------------------------------
// Jars

function libsComplete() {
  try {
    return fs.readFileSync(path.join(LIBS_DIR, STAMP_NAME), 'utf8').trim() === KAFKA_VERSION;
  } catch {
    return false;
  }
}

/**
 * Makes sure .cache/kafka/libs holds the jars for KAFKA_VERSION, running Maven
 * only if they are missing or from another version. Returns the libs dir.
 */
export function ensureJars({ quiet = false } = {}) {
  if (libsComplete()) return LIBS_DIR;

  // Download into a private dir and rename it into place at the end, so an
  // interrupted download or a concurrent run never leaves a half-filled libs/.
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE_DIR, 'libs.tmp-'));
  if (!quiet) console.error(`Fetching Apache Kafka ${KAFKA_VERSION} jars from Maven Central (one time, ~50 MB)...`);
  const mvn = process.platform === 'win32' ? 'mvn.cmd' : 'mvn';
  const res = spawnSync(
    mvn,
    [
      '-q',
      '-B',
      '-f',
      POM,
      `-Dkafka.version=${KAFKA_VERSION}`,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmp}`,
      '-DincludeScope=runtime',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, shell: process.platform === 'win32' },
  );
  const jarOk = fs.existsSync(path.join(tmp, `kafka_2.13-${KAFKA_VERSION}.jar`));
  if (res.error || res.status !== 0 || !jarOk) {
    fs.rmSync(tmp, { recursive: true, force: true });
    const why =
      res.error?.code === 'ENOENT'
        ? 'Maven (`mvn`) is not installed or not on PATH; it is needed once to download Kafka from Maven Central'
        : `\`mvn dependency:copy-dependencies\` failed (exit ${res.status ?? res.signal})` +
          (jarOk || res.status !== 0 ? '' : `: kafka_2.13-${KAFKA_VERSION}.jar was not downloaded`);
    const out = tail(`${res.stdout ?? ''}${res.stderr ?? ''}`, 20);
    throw new Error(`Could not fetch the Kafka jars: ${why}${out ? `\n${out}` : ''}`);
  }
  fs.writeFileSync(path.join(tmp, STAMP_NAME), `${KAFKA_VERSION}\n`);
  if (!libsComplete()) {
    fs.rmSync(LIBS_DIR, { recursive: true, force: true });
    try {
      fs.renameSync(tmp, LIBS_DIR);
    } catch (err) {
      // Another process won the race and put a complete libs/ in place.
      if (!libsComplete()) throw err;
    }
  }
  fs.rmSync(tmp, { recursive: true, force: true });
  return LIBS_DIR;
}

// ---------------------------------------------------------------------------
// Broker

/** A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (like `StorageTool random-uuid`, minus a JVM start). */
function randomClusterId() {
  for (;;) {
    const id = crypto.randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id; // Kafka's Uuid avoids a leading '-' (it looks like a CLI flag)
  }
}

function tail(text, lines) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function logTail(file, lines = 30) {
  try {
    return tail(fs.readFileSync(file, 'utf8'), lines);
  } catch {
    return '(log file not readable)';
  }
}

// Java's properties format treats '\' as an escape; forward slashes work on every OS.
const javaPath = (p) => p.split(path.sep).join('/');

/**
 * Optional ACL checks (KRaft's StandardAuthorizer): without an ACL a principal may do nothing;
 * superUsers (e.g. `User:ANONYMOUS`, the principal of the PLAINTEXT listeners the broker, its
 * controller and the start-up check use) may do everything.
 */
function authorizerProperties(authorizer) {
  if (!authorizer) return '';
  return `
# ACLs (startKafka({ authorizer })).
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=${authorizer.superUsers.join(';')}
`;
}

function serverProperties({ port, controllerPort, logDirs, saslSsl, authorizer }) {
  // The optional second listener: TLS + SCRAM-SHA-512 as a Strimzi cluster's port 9093, advertised
  // under the name its clients are given (see startKafka's saslSsl).
  const secured = saslSsl
    ? {
        listeners: `,SASL_SSL://${saslSsl.bindIp ?? '127.0.0.1'}:${saslSsl.port}`,
        advertised: `,SASL_SSL://${saslSsl.advertised}`,
        map: ',SASL_SSL:SASL_SSL',
        settings: `
# SASL_SSL: TLS with a PEM key store (private key and certificate chain in one file), SCRAM-SHA-512
# users created at format time. Without an authorizer (startKafka's authorizer) every
# authenticated user may do everything.
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location=${javaPath(saslSsl.keystore)}
`,
      }
    : { listeners: '', advertised: '', map: '', settings: '' };
  return `# Written by scripts/kafka/kafka.mjs: a single-node KRaft broker for dev/tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${controllerPort}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}${secured.listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}${secured.advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT${secured.map}
log.dirs=${javaPath(logDirs)}
${secured.settings}${authorizerProperties(authorizer)}
# One node: every internal topic must live with replication factor 1,
# otherwise consumer groups and transactions never become available.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
min.insync.replicas=1
default.replication.factor=1
# Fewer internal partitions (defaults 50) = much faster first group/transaction.
offsets.topic.num.partitions=4
transaction.state.log.num.partitions=4
# Consumers join immediately instead of waiting 3 s for more members.
group.initial.rebalance.delay.ms=0

# The pipeline creates its topics explicitly; a typo must fail, not create a topic.
auto.create.topics.enable=false
num.partitions=1

# Frames and face crops can exceed the 1 MB default.
message.max.bytes=${MAX_MESSAGE_BYTES}
replica.fetch.max.bytes=${MAX_MESSAGE_BYTES}

# Throwaway data: small segments keep the data dir small.
log.segment.bytes=16777216
# Don't keep 2 x 50 MB of log-cleaner buffers on a small dev heap.
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
`;
}

function log4jProperties(logFile, level = 'INFO') {
  // The broker logs to a file only, so it does not interleave with the output
  // of the command under test. INFO for the broker itself (startup/shutdown
  // is useful when something fails), WARN for the chatty parts.
  return `log4j.rootLogger=${level}, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=${javaPath(logFile)}
log4j.appender.file.Append=true
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.org.apache.kafka.common.utils.AppInfoParser=WARN
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log=WARN
log4j.logger.kafka.log.UnifiedLog=WARN
log4j.logger.kafka.log.LogManager=WARN
`;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// JVMs started by this process that have not been stopped yet. If Node exits
// without calling stop() (uncaught error, process.exit in a signal handler),
// the 'exit' hook below still kills them: the broker runs in its own process
// group, so nothing else would.
const live = new Set();
process.on('exit', () => {
  for (const b of live) {
    try {
      process.kill(b.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    if (b.tempDir) fs.rmSync(b.tempDir, { recursive: true, force: true });
    if (b.cdsDump) fs.rmSync(b.cdsDump, { force: true });
  }
});

/**
 * Starts a single-node KRaft broker on free 127.0.0.1 ports and waits until
 * topics, consumer groups and transactions all work.
 *
 * @param {object} [opts]
 * @param {string} [opts.dataDir]  keep the data here (reused across runs, never deleted);
 *                                 default: a fresh temp dir deleted by stop()
 * @param {string} [opts.logFile]  broker log (default: kafka.log in the data dir)
 * @param {object} [opts.saslSsl]  a second listener, TLS + SASL SCRAM-SHA-512 on another free 127.0.0.1
 *   port, as a Strimzi cluster's: { advertised: 'host:port' (the address its clients are told),
 *   keystore: a PEM file with the private key (PKCS#8, unencrypted) and the certificate chain,
 *   users: [{ username, password }] (SCRAM credentials, made when the storage is formatted) }.
 *   The result then has saslSslPort. bind: 'ip:port' to listen on that address instead (a fixed port,
 *   e.g. the 9093 of a bootstrap address, on a loopback address of its own, 127.x.y.z).
 * @param {{superUsers: string[]}} [opts.authorizer]  check ACLs (StandardAuthorizer): a principal
 *   without ACLs may do nothing, the super users everything (include `User:ANONYMOUS`, the PLAINTEXT
 *   listeners' principal, which the broker itself and its start-up check use)
 * @returns {Promise<{brokers: string, pid: number, running: boolean, logFile: string, dataDir: string,
 *   exited: Promise<{code: number|null, signal: string|null}>, stop: () => Promise<void>,
 *   kill: (signal?: 'SIGKILL'|'SIGTERM') => Promise<void>, restart: () => Promise<void>}>}
 *   `exited` resolves when the broker goes away unasked (or at stop()), not on kill().
 */
export async function startKafka({ dataDir, logFile, saslSsl, authorizer } = {}) {
  const libs = ensureJars();
  const classpath = `${libs}${path.sep}*`; // JVM wildcard: every jar in the dir

  const tempDir = dataDir ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'emostream-kafka-'));
  const dir = path.resolve(dataDir ?? tempDir);
  fs.mkdirSync(dir, { recursive: true });
  logFile = path.resolve(logFile ?? path.join(dir, 'kafka.log'));
  fs.mkdirSync(path.dirname(logFile), { recursive: true });

  const [port, controllerPort, freeSaslSslPort] = await freePorts(saslSsl && !saslSsl.bind ? 3 : 2);
  const [bindIp, boundPort] = saslSsl?.bind ? saslSsl.bind.split(':') : [undefined, freeSaslSslPort];
  const saslSslPort = Number(boundPort);
  const propsFile = path.join(dir, 'server.properties');
  const log4jFile = path.join(dir, 'log4j.properties');
  fs.writeFileSync(
    propsFile,
    serverProperties({
      port,
      controllerPort,
      logDirs: path.join(dir, 'data'),
      saslSsl: saslSsl && { ...saslSsl, bindIp, port: saslSslPort },
      authorizer,
    }),
  );
  fs.writeFileSync(log4jFile, log4jProperties(logFile));
  // StorageTool would otherwise dump the whole KafkaConfig into the log.
  const toolLog4jFile = path.join(dir, 'log4j-tools.properties');
  fs.writeFileSync(toolLog4jFile, log4jProperties(logFile, 'WARN'));
  fs.writeFileSync(logFile, ''); // a fresh log per start

  const jvmOpts = process.env.KAFKA_JVM_OPTS ? process.env.KAFKA_JVM_OPTS.split(/\s+/).filter(Boolean) : DEFAULT_JVM_OPTS;
  const javaArgs = (log4j) => [...jvmOpts, `-Dlog4j.configuration=${pathToFileURL(log4j).href}`, '-cp', classpath];
  const useCds = process.env.KAFKA_CDS !== '0';
  const cdsArgs = useCds && fs.existsSync(CDS_FILE) ? [`-XX:SharedArchiveFile=${CDS_FILE}`] : [];
  // Dump next to CDS_FILE (same filesystem, so the final rename is atomic).
  const cdsDump = useCds && !cdsArgs.length ? `${CDS_FILE}.tmp-${process.pid}-${port}` : null;

  // KRaft needs its storage formatted with a cluster id before the first start
  // (a reused dataDir already is; formatting it again with a new id would fail).
  const formatted = fs.existsSync(path.join(dir, 'data', 'meta.properties'));
  const fmt = formatted
    ? { status: 0 }
    : spawnSync(
        'java',
        [
          ...cdsArgs,
          ...javaArgs(toolLog4jFile),
          'kafka.tools.StorageTool',
          'format',
          '-t',
          randomClusterId(),
          '-c',
          propsFile,
          // KRaft keeps SCRAM credentials in its metadata log: written at format time (KIP-900).
          ...(saslSsl?.users ?? []).flatMap((u) => ['--add-scram', `SCRAM-SHA-512=[name=${u.username},password=${u.password}]`]),
        ],
        { encoding: 'utf8' },
      );
  if (fmt.error || fmt.status !== 0) {
    const why =
      fmt.error?.code === 'ENOENT'
        ? 'Java (`java`, 17+) is not installed or not on PATH'
        : `kafka.tools.StorageTool format failed (exit ${fmt.status ?? fmt.signal})`;
    const logText = logTail(logFile, 20); // read before the temp dir goes
    if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    throw new Error(`${why}\n${tail(`${fmt.stdout ?? ''}${fmt.stderr ?? ''}`, 20)}\n${logText}`);
  }

  // One JVM per launch: the first, and one per restart() (same ports, same data folder).
  let child;
  let exitPromise;
  let exited = null; // { code, signal } once the current JVM is gone
  // Resolves when a JVM goes away that nobody asked to stop (a crash), or at the final stop().
  let unexpectedExit;
  const exitedUnexpectedly = new Promise((resolve) => {
    unexpectedExit = resolve;
  });
  let down = false; // stopped on purpose by kill(); restart() clears it
  const entry = { pid: 0, tempDir, cdsDump };
  live.add(entry);
  const launch = (first) => {
    // JVM stdout/stderr (crash messages, "could not find class") go to the same
    // log, opened in append mode so they don't overwrite what log4j writes.
    const out = fs.openSync(logFile, 'a');
    // Only the first JVM dumps the class archive (a killed one would leave it half written).
    const cds =
      first && cdsDump
        ? [`-XX:ArchiveClassesAtExit=${cdsDump}`]
        : useCds && fs.existsSync(CDS_FILE)
          ? [`-XX:SharedArchiveFile=${CDS_FILE}`]
          : [];
    const jvm = spawn('java', [...cds, ...javaArgs(log4jFile), 'kafka.Kafka', propsFile], {
      stdio: ['ignore', out, out],
      // Own process group: a Ctrl-C in the terminal goes to the command under
      // test, not to the broker, which is stopped afterwards by stop().
      detached: true,
    });
    fs.closeSync(out);
    exited = null;
    child = jvm;
    entry.pid = jvm.pid;
    exitPromise = new Promise((resolve) => {
      const done = (result) => {
        exited = result;
        resolve(result);
        if (!down) unexpectedExit(result);
      };
      jvm.once('exit', (code, signal) => done({ code, signal }));
      jvm.once('error', (err) => done({ code: null, signal: null, error: err }));
    });
  };
  launch(true);

  /** Ends the current JVM: SIGTERM (a clean shutdown) or SIGKILL (a crash), waiting for it to be gone. */
  const endJvm = async (signal) => {
    if (exited) return;
    child.kill(signal);
    let timer;
    // Writing the class archive at exit takes a while on a busy machine.
    const ms = cdsDump ? 4 * STOP_TIMEOUT_MS : STOP_TIMEOUT_MS;
    const timeout = new Promise((r) => {
      timer = setTimeout(() => r('timeout'), ms);
    });
    const result = await Promise.race([exitPromise, timeout]);
    clearTimeout(timer); // a pending timer would keep the caller's process alive for 15 s
    if (result === 'timeout') {
      child.kill('SIGKILL');
      await exitPromise;
    }
  };

  let stopping = null;
  const stop = () => {
    stopping ??= (async () => {
      down = true;
      await endJvm('SIGTERM'); // Kafka's shutdown hook does a clean controlled shutdown
      if (cdsDump) promoteCdsArchive(cdsDump, firstExit ?? exited, [...javaArgs(log4jFile)]);
      live.delete(entry);
      if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
      unexpectedExit(exited);
    })();
    return stopping;
  };
  // The class archive is written by the first JVM only: remember how that one ended.
  let firstExit = null;
  void exitPromise.then((result) => {
    firstExit = result;
  });

  // A signal while we wait must not orphan the half-started JVM (Node's default
  // signal handling exits without running 'exit' hooks). Kill it right away,
  // then let the signal do what it would have done. Callers install their own
  // handlers once they hold stop().
  const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  let interruptedBy = null;
  const onSignal = (sig) => {
    interruptedBy = sig;
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    if (SIGNALS.every((s) => process.listenerCount(s) === 1 && process.listeners(s)[0] === onSignal)) {
      if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
      if (cdsDump) fs.rmSync(cdsDump, { force: true });
      for (const s of SIGNALS) process.removeListener(s, onSignal);
      process.kill(process.pid, sig); // nobody else handles it: die as usual
    }
  };
  for (const s of SIGNALS) process.on(s, onSignal);

  const brokers = `127.0.0.1:${port}`;
  try {
    await waitUntilUsable(brokers, () => exited || interruptedBy);
  } catch (err) {
    if (interruptedBy) {
      await stop();
      throw new Error(`interrupted by ${interruptedBy} while the broker was starting`, { cause: err });
    }
    const died = exited
      ? exited.error
        ? `could not run java: ${exited.error.message}`
        : `the broker JVM exited (code ${exited.code ?? exited.signal})`
      : err.message;
    const logText = logTail(logFile); // read before stop() deletes a temp log
    await stop();
    throw new Error(`${died}\nLast lines of ${logFile}${tempDir && logFile.startsWith(tempDir) ? ' (now deleted)' : ''}:\n${logText}`, {
      cause: err,
    });
  } finally {
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  }

  // Fault tooling: take the broker away and bring it back on the same port with the same data, as
  // an outage or a broker restart does to the clients.
  let changing = Promise.resolve();
  const serially = (work) => (changing = changing.then(work, work));
  /** Stops the broker, keeping its port and data: 'SIGKILL' (default) is a crash, 'SIGTERM' a clean shutdown. */
  const kill = (signal = 'SIGKILL') =>
    serially(async () => {
      if (stopping) throw new Error('the broker was stopped for good');
      down = true;
      await endJvm(signal);
    });
  /** Starts the broker again (after kill()) and waits until topics, groups and transactions work. */
  const restart = () =>
    serially(async () => {
      if (stopping) throw new Error('the broker was stopped for good');
      if (!exited) return;
      launch(false);
      down = false;
      try {
        await waitUntilUsable(brokers, () => exited);
      } catch (err) {
        throw new Error(
          `the broker did not come back: ${exited ? `its JVM exited (code ${exited.code ?? exited.signal})` : err.message}\n${logTail(logFile)}`,
          { cause: err },
        );
      }
    });
  return {
    brokers,
    ...(saslSsl ? { saslSslPort } : {}),
    get pid() {
      return child.pid;
    },
    get running() {
      return !exited;
    },
    logFile,
    dataDir: dir,
    exited: exitedUnexpectedly,
    stop,
    kill,
    restart,
  };
}

/**
 * Serves the broker's kill() and restart() on 127.0.0.1 (any free port) for processes that did not
 * start it: POST /kill[?signal=SIGTERM], POST /restart (answers once the broker is usable again),
 * GET /status. Loopback only and no authentication: a tool for a developer machine and tests.
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function serveBrokerControl(broker) {
  const http = await import('node:http');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const reply = (code, text) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`${text}\n`);
    };
    const act = (work, done) =>
      work.then(
        () => reply(200, done),
        (err) => reply(500, err.message),
      );
    if (req.method === 'GET' && url.pathname === '/status') return reply(200, broker.running ? 'running' : 'down');
    if (req.method !== 'POST') return reply(405, 'POST /kill[?signal=SIGTERM], POST /restart, GET /status');
    if (url.pathname === '/kill') {
      const signal = url.searchParams.get('signal') ?? 'SIGKILL';
      if (signal !== 'SIGKILL' && signal !== 'SIGTERM') return reply(400, 'signal must be SIGKILL or SIGTERM');
      return act(broker.kill(signal), 'down');
    }
    if (url.pathname === '/restart') return act(broker.restart(), 'running');
    return reply(404, 'POST /kill[?signal=SIGTERM], POST /restart, GET /status');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  server.unref(); // never keeps a process alive on its own
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Installs a class archive dumped by a broker as CDS_FILE, but only a complete
 * one: a truncated archive crashes the JVM (SIGBUS) instead of being ignored.
 */
function promoteCdsArchive(dump, exited, javaArgs) {
  try {
    // Exited on its own after SIGTERM (code 143), not killed: the dump finished.
    // -Xshare:on makes `java -version` fail if the archive cannot be used.
    const ok =
      exited?.code != null &&
      fs.existsSync(dump) &&
      spawnSync('java', ['-Xshare:on', `-XX:SharedArchiveFile=${dump}`, ...javaArgs, '-version'], { stdio: 'ignore' }).status === 0;
    if (ok) fs.renameSync(dump, CDS_FILE);
  } catch {
    /* only an optimisation */
  }
  fs.rmSync(dump, { force: true });
}

/**
 * Waits until the broker answers AND groups and transactions work. On a fresh
 * node __consumer_offsets and __transaction_state are created on first use and
 * take a few seconds; doing that here means tests never see
 * COORDINATOR_NOT_AVAILABLE on their first call.
 */
async function waitUntilUsable(brokers, hasExited) {
  const { Kafka, logLevel, Partitioners } = await import('kafkajs');
  const kafka = new Kafka({
    clientId: 'emostream-kafka-probe',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 1000 },
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const remaining = () => deadline - Date.now();
  const timeoutMsg = `the broker was not usable within ${READY_TIMEOUT_MS / 1000} s`;

  // 1. Broker answers metadata requests.
  const admin = kafka.admin();
  for (;;) {
    if (hasExited()) throw new Error('the broker JVM exited');
    if (remaining() <= 0) throw new Error(`${timeoutMsg} (no answer on ${brokers})`);
    try {
      await admin.connect();
      await admin.listTopics();
      break;
    } catch {
      await admin.disconnect().catch(() => {});
      await sleep(200);
    }
  }

  // 2. Transactional produce + group consume on a scratch topic, retried as a
  //    whole because the coordinators may still be loading.
  const topic = `__emostream_probe_${crypto.randomBytes(4).toString('hex')}`;
  // A group per attempt: an attempt that timed out on a starved machine must not leave a member that
  // still holds the topic's one partition, so that every later attempt's consumer got an empty
  // assignment and never saw its message (CI: "groups/transactions: timed out" on every try).
  const groupIds = [];
  try {
    let lastError;
    let created = false;
    while (remaining() > 0) {
      if (hasExited()) throw new Error('the broker JVM exited');
      try {
        // Created in the retried part: a broker just restarted can answer metadata yet still refuse
        // the topic's partitions for a moment ("This server does not host this topic-partition").
        if (!created) {
          await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
          created = true;
        }
        const groupId = `${topic}_group${groupIds.length}`;
        groupIds.push(groupId);
        await probeOnce(kafka, Partitioners, topic, groupId, Math.min(remaining(), 30_000));
        return;
      } catch (err) {
        lastError = err;
        await sleep(250);
      }
    }
    throw new Error(`${timeoutMsg} (groups/transactions: ${lastError?.message ?? 'timed out'})`);
  } finally {
    // Leave no trace for tests that list topics or groups.
    await admin.deleteTopics({ topics: [topic], timeout: 5000 }).catch(() => {});
    if (groupIds.length > 0) await admin.deleteGroups(groupIds).catch(() => {});
    await admin.disconnect().catch(() => {});
  }
}

/**
 * One transactional produce and one group consume of it, within timeoutMs. Its clients are
 * disconnected whether it succeeded, failed or timed out: a consumer left running would stay in
 * the group (and a producer keep its connection) after the attempt was given up.
 */
async function probeOnce(kafka, Partitioners, topic, groupId, timeoutMs) {
  const producer = kafka.producer({
    transactionalId: `${topic}_tx`,
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
  const attempt = async () => {
    // Producer and consumer side run concurrently: the broker creates
    // __transaction_state and __consumer_offsets in parallel, saving a second.
    const received = (async () => {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise((resolve, reject) => {
        consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
        consumer.run({ eachMessage: async () => resolve() }).catch(reject);
      });
    })();
    received.catch(() => {}); // awaited below; don't let an early failure go unhandled
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic, messages: [{ key: 'probe', value: 'ready?' }] });
    await tx.commit();
    await received;
  };
  try {
    await withTimeout(attempt(), timeoutMs);
  } finally {
    // Bounded too: a starved broker may not answer a LeaveGroup promptly.
    await withTimeout(consumer.disconnect(), 5_000).catch(() => {});
    await withTimeout(producer.disconnect(), 5_000).catch(() => {});
  }
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(ms / 1000)} s`)), ms);
  });
  promise.catch(() => {}); // the loser must not become an unhandled rejection
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// CLI

async function main(argv) {
  const [cmd, ...rest] = argv;
  const opt = (name) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : undefined;
  };

  if (cmd === 'fetch') {
    ensureJars();
    console.log(`Kafka ${KAFKA_VERSION} jars are in ${LIBS_DIR}`);
    return;
  }
  if (cmd !== 'start') {
    console.error(
      'usage: node scripts/kafka/kafka.mjs fetch\n' + '       node scripts/kafka/kafka.mjs start [--data-dir DIR] [--log-file FILE]',
    );
    process.exitCode = 2;
    return;
  }

  const started = Date.now();
  const broker = await startKafka({ dataDir: opt('--data-dir'), logFile: opt('--log-file') });
  // The pid file holds *this* process's pid: SIGTERM it to stop the broker
  // cleanly (killing the JVM directly would leave the temp dir behind).
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  fs.writeFileSync(PID_FILE, `${process.pid}\n`);
  const control = await serveBrokerControl(broker);
  console.log(`KAFKA_BROKERS=${broker.brokers}`);
  console.log(`KAFKA_PID_FILE=${PID_FILE}`);
  console.log(`KAFKA_CONTROL_URL=${control.url}`);
  console.error(
    `Kafka ${KAFKA_VERSION} ready in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
      `(JVM pid ${broker.pid}, log ${broker.logFile}). Ctrl-C to stop.`,
  );

  const removePidFile = () => {
    try {
      if (fs.readFileSync(PID_FILE, 'utf8').trim() === String(process.pid)) fs.rmSync(PID_FILE);
    } catch {
      /* another start owns or removed it */
    }
  };
  let signalled = false;
  const shutdown = async (sig) => {
    if (signalled) return;
    signalled = true;
    console.error(`${sig}: stopping Kafka...`);
    await broker.stop();
    removePidFile();
    process.exit(0);
  };
  broker.exited.then(async ({ code, signal }) => {
    if (signalled) return;
    console.error(`kafka: the broker exited unexpectedly (${code ?? signal}); see ${broker.logFile}`);
    await broker.stop(); // cleans up the data dir
    removePidFile();
    process.exit(1);
  });
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // The script lives until a signal or a crash of the broker, also while the broker is down on
  // purpose (POST /kill): the JVM child alone kept Node running, so a kill ended the script and the
  // control URL's /restart with it.
  setInterval(() => {}, 1 << 30);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(`kafka: ${err.message}`);
    process.exit(1);
  });
}
