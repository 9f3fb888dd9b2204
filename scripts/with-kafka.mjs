#!/usr/bin/env node
// Runs a command against a fresh, throwaway Kafka broker:
//
//   node scripts/with-kafka.mjs <command> [args...]
//
// Starts a single-node broker (scripts/kafka/kafka.mjs), runs the command with
// KAFKA_BROKERS=127.0.0.1:<port> in its environment, stops the broker when the
// command ends (also on failure, SIGINT or SIGTERM) and exits with the
// command's exit code. If no broker can be started the command is NOT run:
// a test that silently skips Kafka would prove nothing.
//
// The command also gets KAFKA_CONTROL_URL: POST $KAFKA_CONTROL_URL/kill and
// /restart take the broker away and bring it back on the same port and data
// (the fault tests use it; see scripts/kafka/kafka.mjs).
//
// Env: KAFKA_LOG_FILE keeps the broker log at that path (default: inside the
// temp data dir, which is deleted afterwards). KAFKA_JVM_OPTS overrides the
// broker's JVM flags.

import { spawn } from 'node:child_process';
import os from 'node:os';
import { ensureJars, serveBrokerControl, startKafka } from './kafka/kafka.mjs';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-kafka.mjs <command> [args...]');
  process.exit(2);
}

let broker;
try {
  ensureJars();
  broker = await startKafka({ logFile: process.env.KAFKA_LOG_FILE || undefined });
} catch (err) {
  console.error(`Kafka broker could not be started: ${err.message}`);
  process.exit(1);
}

const control = await serveBrokerControl(broker);
const child = spawn(command, args, {
  stdio: 'inherit',
  env: { ...process.env, KAFKA_BROKERS: broker.brokers, KAFKA_CONTROL_URL: control.url },
});

// Pass termination signals on to the command and let it shut down; the
// broker is stopped after the command exits, so the command can still talk
// to it while cleaning up. (The broker runs in its own process group, so a
// terminal Ctrl-C does not reach it directly.)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    try {
      child.kill(sig);
    } catch {
      /* already gone */
    }
  });
}

const exitCode = await new Promise((resolve) => {
  child.once('error', (err) => {
    console.error(`with-kafka: could not run ${command}: ${err.message}`);
    resolve(127);
  });
  child.once('exit', (code, signal) => {
    // Shell convention: killed by signal N -> 128 + N.
    resolve(code ?? 128 + (os.constants.signals[signal] ?? 0));
  });
});

await control.close();
await broker.stop();
process.exit(exitCode);
