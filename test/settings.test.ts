// One source of truth per setting: each service's environment bindings are the variables its zod
// schema's fields declare (`fromEnv`), so a variable cannot be documented and bound nowhere. Here:
// every variable the README and the operations guide document is bound by some service or by the
// process settings (or is one of the few test-harness variables listed below with where), every bound
// variable is documented, and setting each one to another valid value changes the config it sets.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { loadConfig, processEnvBindings, processSettingsSchema, type EnvBinding } from '@emostream/shared';
import { backboneConfigSchema, backboneEnvBindings } from '@emostream/backbone';
import { faceConfigSchema, faceEnvBindings } from '@emostream/face';
import { ingestConfigSchema, ingestEnvBindings } from '@emostream/ingest';
import { sinkConfigSchema, sinkEnvBindings } from '@emostream/sink';
import { temporalConfigSchema, temporalEnvBindings } from '@emostream/temporal';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES: [string, z.ZodTypeAny, readonly EnvBinding[]][] = [
  ['ingest', ingestConfigSchema, ingestEnvBindings],
  ['face', faceConfigSchema, faceEnvBindings],
  ['backbone', backboneConfigSchema, backboneEnvBindings],
  ['temporal', temporalConfigSchema, temporalEnvBindings],
  ['sink', sinkConfigSchema, sinkEnvBindings],
  ['process', processSettingsSchema, processEnvBindings],
];

/** Documented variables that are not settings of a schema, and the file that reads each. */
const OUTSIDE_SCHEMAS: Record<string, string> = {
  EMOSTREAM_CONFIG: 'libs/shared/src/config/load.ts', // names the YAML file the schemas are read from
  EMOSTREAM_TEST_DATA: 'libs/shared/src/testing.ts',
  KAFKA_LOG_FILE: 'scripts/kafka/kafka.mjs',
  KAFKA_CONTROL_URL: 'scripts/with-kafka.mjs', // the test broker's kill/restart control, for fault tests
};
/** Patterns the docs name as families rather than single variables. */
const FAMILIES = [/^INGEST_CREDENTIAL_/];

const documented = (() => {
  const text = ['README.md', 'docs/operations.md'].map((f) => readFileSync(path.join(root, f), 'utf8')).join('\n');
  return new Set(text.match(/\b(?:EMOSTREAM|KAFKA|INGEST|FACE|BACKBONE|TEMPORAL|SINK|OTEL|FFMPEG)_[A-Z0-9_]*[A-Z0-9]\b/g) ?? []);
})();
const bound = new Map<string, string[]>();
for (const [service, , bindings] of SERVICES) for (const b of bindings) bound.set(b.env, [...(bound.get(b.env) ?? []), service]);

test('every documented variable is bound by a service schema or read where the list says', () => {
  for (const env of documented) {
    if (FAMILIES.some((f) => f.test(env)) || bound.has(env)) continue;
    const reader = OUTSIDE_SCHEMAS[env];
    assert.ok(reader, `${env} is documented but no service binds it`);
    assert.match(readFileSync(path.join(root, reader), 'utf8'), new RegExp(`\\b${env}\\b`), `${env}: ${reader} does not read it`);
  }
});

test('every bound variable is documented in the README or the operations guide', () => {
  const undocumented = [...bound.keys()].filter((env) => !documented.has(env));
  assert.deepEqual(undocumented, [], `bound but not documented: ${undocumented.join(', ')}`);
});

// A base environment in which every setting can take effect (a Kafka bus with SASL, so the SASL fields exist).
const BASE = {
  EMOSTREAM_BUS: 'kafka',
  KAFKA_BROKERS: '127.0.0.1:9092',
  KAFKA_SASL_MECHANISM: 'plain',
  KAFKA_SASL_USERNAME: 'user-a',
  KAFKA_SASL_PASSWORD: 'password-a',
};
const CANDIDATES = [
  '2',
  '3',
  '7',
  '17',
  '0.35',
  '0.05',
  '250',
  '6000',
  '7000',
  '40000',
  'true',
  'false',
  'cuda',
  'memory',
  'exactly-once',
  'debug',
  'otlp',
  'scram-sha-512',
  'rgb8',
  'other-name',
  'abcdefghijklmnopqrstuvwxyz',
  '127.0.0.2',
  '/tmp',
  'http://127.0.0.1:4318/v1/traces',
  'rtsp',
  '10.0.0.0/8',
  '192.168.0.0/16',
  'env:INGEST_CREDENTIAL_DOOR=rtsp://127.0.0.1:8554',
];

function at(config: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], config);
}

for (const [service, schema, bindings] of SERVICES) {
  test(`${service}: each of its ${bindings.length} variables, set to another valid value, changes the config it runs with`, () => {
    const base: unknown = loadConfig(schema, bindings, { env: BASE, file: '' });
    const inert: string[] = [];
    for (const binding of bindings) {
      const before = JSON.stringify(at(base, binding.path));
      const changed = CANDIDATES.some((value) => {
        try {
          const config: unknown = loadConfig(schema, bindings, { env: { ...BASE, [binding.env]: value }, file: '' });
          return JSON.stringify(at(config, binding.path)) !== before;
        } catch {
          return false; // not a valid value for this setting: try the next
        }
      });
      if (!changed) inert.push(binding.env);
    }
    assert.deepEqual(inert, [], `${service}: no valid value of ${inert.join(', ')} changed its setting`);
  });
}
