import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { ConfigError, envBindingsOf, loadConfig, runtimeConfigSchema, runtimeEnvBindings } from '../src/index.js';

const load = (env: Record<string, string>, file?: string) =>
  loadConfig(runtimeConfigSchema, runtimeEnvBindings, { env, ...(file ? { file } : {}) });

describe('runtime config', () => {
  it('reads the environment, with defaults for the rest', () => {
    const config = load({
      KAFKA_BROKERS: '127.0.0.1:9092',
      EMOSTREAM_DELIVERY: 'exactly-once',
      EMOSTREAM_MAX_BATCH_SIZE: '16',
      KAFKA_SSL: 'true',
    });
    assert.equal(config.kafka?.brokers, '127.0.0.1:9092');
    assert.equal(config.delivery, 'exactly-once');
    assert.equal(config.maxBatchSize, 16);
    assert.equal(config.kafka?.ssl.enabled, true);
    assert.equal(config.topicPrefix, 'emostream');
    assert.deepEqual(config.kafka?.sasl, { mechanism: 'none' });
  });

  it('layers the environment over a YAML file', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    const file = path.join(dir, 'stage.yaml');
    writeFileSync(
      file,
      'topicPrefix: site-a\nkafka:\n  brokers: 10.0.0.1:9092\n  sasl:\n    mechanism: scram-sha-512\n    username: svc\n    password: from-file\n',
    );
    const config = load({ KAFKA_BROKERS: '127.0.0.1:9092' }, file);
    assert.equal(config.topicPrefix, 'site-a');
    assert.equal(config.kafka?.brokers, '127.0.0.1:9092');
    assert.equal(config.kafka?.sasl.mechanism, 'scram-sha-512');
  });

  it('fails naming every bad variable, what is wrong with its value and what to set it to', () => {
    assert.throws(
      () => load({ KAFKA_BROKERS: 'b:9092', EMOSTREAM_DELIVERY: 'twice', EMOSTREAM_OPS_PORT: '70000' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /^ {2}- EMOSTREAM_DELIVERY="twice" is not valid \(.*'twice'.*\); set it: Delivery guarantee/m.test(error.message) &&
        /^ {2}- EMOSTREAM_OPS_PORT="70000" is not valid \(.*65535.*\); set it: Port of \/metrics/m.test(error.message) &&
        error.problems.map((p) => p.env).join() === 'EMOSTREAM_DELIVERY,EMOSTREAM_OPS_PORT',
    );
    assert.throws(
      () => load({}),
      /invalid configuration \(environment\): KAFKA_BROKERS is not set \(Required when bus is kafka\); set it: Bootstrap servers/,
    );
  });

  it('names the variable inside a section nothing set, not the section ("runtime: Required", issue 26)', () => {
    const service = z.object({ runtime: runtimeConfigSchema }).strict();
    try {
      loadConfig(service, envBindingsOf(service), { env: {} });
      assert.fail('a config without KAFKA_BROKERS was accepted');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        {
          path: 'runtime.kafka.brokers',
          env: 'KAFKA_BROKERS',
          problem: 'KAFKA_BROKERS is not set (Required when bus is kafka)',
          fix: 'Bootstrap servers, comma-separated host:port',
        },
      ]);
      assert.equal(
        error.oneLine(),
        'invalid configuration: KAFKA_BROKERS is not set (Required when bus is kafka); set it: Bootstrap servers, comma-separated host:port',
      );
    }
    // The same section, set: it parses (the empty section is only filled in to name what is missing).
    assert.equal(loadConfig(service, envBindingsOf(service), { env: { EMOSTREAM_BUS: 'memory' } }).runtime.bus, 'memory');
  });

  it('rejects unknown keys in a config file (a misspelt key is an error, not ignored)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cfg-'));
    const file = path.join(dir, 'stage.yaml');
    writeFileSync(file, 'bus: memory\nmaxBatchSzie: 8\n');
    assert.throws(() => load({}, file), /Unrecognized key\(s\) in object: 'maxBatchSzie'/);
  });

  it('never prints a secret, even when it is the invalid value', () => {
    const secret = 'hunter2-do-not-print';
    // The mechanism is wrong, so the whole SASL block is invalid: its password must still not appear.
    try {
      load({ KAFKA_BROKERS: 'b:9092', KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_USERNAME: 'svc', KAFKA_SASL_PASSWORD: secret });
      assert.fail('an unsupported SASL mechanism was accepted');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.ok(!error.message.includes(secret), error.message);
      assert.match(error.message, /KAFKA_SASL_MECHANISM="gssapi" is not valid/);
    }
  });
});
