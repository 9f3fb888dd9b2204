/**
 * Issue 11, offline on the rendered manifests: least privilege on Kafka (one user per stage with
 * exactly the ACLs docs/operations.md lists), ingest's egress never reaching link-local (cloud
 * metadata) or cluster ranges, and ops endpoints on 0.0.0.0 only where the manifests ask for it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { BlockList } from 'node:net';
import { runtimeConfigSchema, streamStatusTopic, topicName, topics } from '@emostream/shared';
import { ingestSettingsSchema } from '@emostream/ingest';
import { OPERATIONS_GUIDE, OVERLAYS } from '../lib/paths.js';
import { mainContainer, podOf, typedManifests, type KafkaAcl, type Manifests } from '../lib/manifests.js';
import { renderOverlay } from '../lib/render.js';

const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;

/** The ACL table of docs/operations.md, one "principal|type|name|pattern|operations" line per ACL. */
function documentedAcls(): string[] {
  const guide = readFileSync(OPERATIONS_GUIDE, 'utf8');
  const table = /<!-- acls:start -->([\s\S]*?)<!-- acls:end -->/.exec(guide)?.[1];
  assert.ok(table, 'docs/operations.md has no ACL table between <!-- acls:start/end --> markers');
  return table
    .split('\n')
    .map((line) => line.split('|').map((c) => c.trim().replace(/`/g, '')))
    .filter((cells) => cells[1]?.startsWith('emostream-'))
    .map((cells) =>
      aclLine(
        cells[1]!,
        cells[2]!,
        cells[3]!,
        cells[4]!,
        cells[5]!.split(',').map((o) => o.trim()),
      ),
    )
    .sort();
}

function aclLine(principal: string, type: string, resource: string, pattern: string, operations: string[]): string {
  return [principal, type, resource, pattern, [...operations].sort().join(',')].join('|');
}

const dev = typedManifests(renderOverlay('dev'), 'overlay dev');
const users = dev.ofKind('KafkaUser');
const aclsOf = (principal: string): KafkaAcl[] => users.find((u) => u.metadata.name === principal)?.spec.authorization!.acls ?? [];
const grants = (principal: string, type: string, resource: string, operation: string) =>
  aclsOf(principal).some(
    (a) =>
      a.resource.type === type &&
      (a.resource.patternType === 'prefix' ? resource.startsWith(a.resource.name!) : resource === a.resource.name) &&
      (a.operations.includes(operation) || a.operations.includes('All')),
  );

describe('Kafka least privilege (dev overlay)', () => {
  it('has one KafkaUser per stage plus KEDA, admin and operator, each with exactly the ACLs docs/operations.md lists', () => {
    assert.deepEqual(
      users.map((u) => u.metadata.name).sort(),
      [...STAGES, 'keda', 'admin', 'operator'].map((r) => `emostream-${r}`).sort(),
    );
    const rendered = users
      .flatMap((u) =>
        u.spec.authorization!.acls.map((a) =>
          aclLine(u.metadata.name, a.resource.type, a.resource.name!, a.resource.patternType!, a.operations),
        ),
      )
      .sort();
    assert.deepEqual(rendered, documentedAcls());
    for (const u of users) {
      for (const a of u.spec.authorization!.acls) assert.ok(!a.operations.includes('All'), `${u.metadata.name}: no "All" grants`);
    }
  });

  it('lets only the admin write the streams topic, only the operator read dead letters, and each stage only its own hop', () => {
    const prefix = 'emostream';
    const topic = (t: { base: string; version: number }) => topicName(t, prefix);
    const principals = users.map((u) => u.metadata.name);
    assert.deepEqual(
      principals.filter((p) => grants(p, 'topic', topic(topics.streams), 'Write')),
      ['emostream-admin'],
    );
    assert.deepEqual(
      principals.filter((p) => grants(p, 'topic', topic(topics.dlq), 'Read')),
      ['emostream-operator'],
    );
    assert.deepEqual(
      principals.filter((p) => grants(p, 'topic', topic(topics.frames), 'Write')),
      ['emostream-ingest'],
    );
    assert.deepEqual(
      principals.filter((p) => grants(p, 'topic', topic(topics.frames), 'Read')),
      ['emostream-face'],
    );
    assert.deepEqual(
      principals.filter((p) => grants(p, 'topic', topic(streamStatusTopic), 'Write')),
      ['emostream-ingest'],
    );
    assert.ok(
      grants('emostream-ingest', 'topic', topic(topics.streams), 'Read') && grants('emostream-ingest', 'group', 'emostream.ingest', 'Read'),
    );
    assert.ok(!grants('emostream-keda', 'topic', topic(topics.frames), 'Read'), 'KEDA describes, never reads data');
    assert.ok(
      !principals.some((p) => grants(p, 'cluster', 'kafka-cluster', 'Create') || grants(p, 'topic', topic(topics.frames), 'Create')),
      'topics come from the KafkaTopics',
    );
  });

  it('logs every stage in as its own user', () => {
    for (const stage of STAGES) {
      const deployment = dev.ofKind('Deployment').find((o) => o.metadata.name === `emostream-${stage}`)!;
      const env = mainContainer(podOf(deployment), stage).env!;
      for (const key of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD']) {
        assert.equal(env.find((e) => e.name === key)?.valueFrom?.secretKeyRef?.name, `emostream-kafka-${stage}`, `${stage}: ${key}`);
      }
      const secret = dev.ofKind('Secret').find((o) => o.metadata.name === `emostream-kafka-${stage}`)!;
      assert.equal(Buffer.from(secret.data!.username!, 'base64').toString(), `emostream-${stage}`);
    }
    const keda = dev.ofKind('TriggerAuthentication')[0]!;
    assert.ok(keda.spec.secretTargetRef!.filter((r) => r.parameter !== 'ca').every((r) => r.name === 'emostream-kafka-keda'));
  });
});

for (const overlay of OVERLAYS) {
  describe(`overlay ${overlay}: network and ops exposure`, () => {
    const objects: Manifests = typedManifests(renderOverlay(overlay), `overlay ${overlay}`);
    const ingest = () => objects.ofKind('Deployment').find((o) => o.metadata.name === 'emostream-ingest')!;

    it('lets ingest reach cameras but never link-local (cloud metadata), loopback, private or cluster ranges', () => {
      const policies = objects.ofKind('NetworkPolicy').filter((o) => (o.spec!.policyTypes ?? []).includes('Egress'));
      const ingestLabels = ingest().spec!.template.metadata!.labels!;
      const applying = policies.filter((p) =>
        Object.entries(p.spec!.podSelector.matchLabels ?? {}).every(([k, v]) => ingestLabels[k] === v),
      );
      const blocks = applying.flatMap((p) =>
        p.spec!.egress!.flatMap((rule) => (rule.to ?? []).filter((to) => to.ipBlock).map((to) => to.ipBlock!)),
      );
      assert.ok(blocks.length > 0, 'ingest has an ipBlock egress rule (cameras)');
      for (const address of ['169.254.169.254', '169.254.1.1', '127.0.0.1', '10.96.0.1', '172.20.0.5', '192.168.1.1', '100.64.0.1']) {
        const reachable = blocks.some((block) => {
          const [network, bits] = block.cidr.split('/');
          const inside = new BlockList();
          inside.addSubnet(network!, Number(bits), 'ipv4');
          const excepted = new BlockList();
          for (const cidr of block.except ?? []) excepted.addSubnet(cidr.split('/')[0]!, Number(cidr.split('/')[1]), 'ipv4');
          return inside.check(address, 'ipv4') && !excepted.check(address, 'ipv4');
        });
        assert.equal(reachable, false, `ingest egress reaches ${address}`);
      }
    });

    it('binds ops endpoints to 0.0.0.0 only because the manifests say so (the default is loopback)', () => {
      const values = objects
        .ofKind('ConfigMap')
        .map((c) => c.data?.EMOSTREAM_OPS_HOST)
        .filter((v) => v !== undefined);
      assert.deepEqual(values, ['0.0.0.0']);
      assert.equal(runtimeConfigSchema.parse({ bus: 'memory' }).opsHost, '127.0.0.1');
    });

    it('starts ingest with the strict source policy: no extra hosts or media roots, a stream cap', () => {
      const container = mainContainer(podOf(ingest()), 'emostream-ingest');
      const env = Object.fromEntries(container.env!.filter((e) => 'value' in e).map((e) => [e.name, e.value]));
      const settings = ingestSettingsSchema.parse({
        allowHosts: env.INGEST_ALLOW_HOSTS,
        mediaRoots: env.INGEST_MEDIA_ROOTS,
        maxStreams: env.INGEST_MAX_STREAMS,
      });
      assert.deepEqual(settings.allowHosts, []);
      assert.deepEqual(settings.mediaRoots, []);
      assert.ok(settings.maxStreams > 0 && settings.maxStreams <= 64);
    });
  });
}
