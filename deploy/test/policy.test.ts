/**
 * Policy on the rendered manifests of every overlay (kustomize build, as deploy:check renders them):
 * security, probes, resources, grace periods, lag autoscaling that matches what the stages really
 * consume, topic retentions as docs/operations.md states them, GPU placement of the backbone.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { ALL_TOPICS, carriesBiometrics, InMemoryBus, runtimeConfigSchema, StageRunner, topicName, topics } from '@emostream/shared';
import { backboneStage } from '@emostream/backbone';
import { faceStage } from '@emostream/face';
import { sinkStage } from '@emostream/sink';
import { temporalStage } from '@emostream/temporal';
import { dashboardJson } from '../lib/dashboard.js';
import { DASHBOARD_FILE, K8S_DIR, OPERATIONS_GUIDE, OVERLAYS, type Overlay } from '../lib/paths.js';
import { mainContainer, podOf, typedManifests, type ManifestKind, type ManifestOf } from '../lib/manifests.js';
import { describe as name, renderDir, renderOverlay, type K8sObject } from '../lib/render.js';
import { validateObjects } from '../lib/validate.js';

const rendered = new Map<Overlay, K8sObject[]>(OVERLAYS.map((o) => [o, renderOverlay(o)]));
const manifests = new Map(OVERLAYS.map((o) => [o, typedManifests(rendered.get(o)!, `overlay ${o}`)]));
const ofKind = <K extends ManifestKind>(overlay: Overlay, kind: K): ManifestOf<K>[] => manifests.get(overlay)!.ofKind(kind);
const byName = <K extends ManifestKind>(overlay: Overlay, kind: K, n: string): ManifestOf<K> => manifests.get(overlay)!.byName(kind, n);
const configValue = (overlay: Overlay, key: string): string => {
  const values = ofKind(overlay, 'ConfigMap')
    .map((c) => c.data?.[key])
    .filter((v) => v !== undefined);
  assert.equal(values.length, 1, `${overlay}: ${key} must be set in exactly one ConfigMap`);
  return values[0]!;
};

/** What each consuming stage really uses: StageRunner's own group id and input topic under the deployed prefix. */
function stageBinding(stage: string, prefix: string): { groupId: string; inputTopic: string } {
  const definitions: Record<string, () => ConstructorParameters<typeof StageRunner>[0]> = {
    face: () => faceStage({} as never),
    backbone: () => backboneStage({} as never),
    temporal: () => temporalStage({ windowLength: 10, trackTtlMs: 2000, replayRecords: 0 } as never),
    sink: () => sinkStage({}),
  };
  const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: prefix });
  const runner = new StageRunner(definitions[stage]!(), { bus: new InMemoryBus(), config, registry: new Registry() });
  return { groupId: runner.groupId, inputTopic: runner.inputTopic };
}

/** The retention table of docs/operations.md: topic → retention.ms, 'compact', or a retention on a compacted topic. */
function documentedRetentions(): Map<string, { partitions: number; retentionMs: number | 'compact'; compacted: boolean }> {
  const guide = readFileSync(OPERATIONS_GUIDE, 'utf8');
  const table = /<!-- retention:start -->([\s\S]*?)<!-- retention:end -->/.exec(guide)?.[1];
  assert.ok(table, 'docs/operations.md has no retention table between <!-- retention:start/end --> markers');
  const rows = new Map<string, { partitions: number; retentionMs: number | 'compact'; compacted: boolean }>();
  for (const line of table.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    const topic = /^`([^`]+)`$/.exec(cells[1] ?? '')?.[1];
    if (!topic) continue;
    const ms = /\((\d+) ms\)/.exec(cells[3] ?? '')?.[1];
    rows.set(topic, {
      partitions: Number(cells[2]),
      retentionMs: ms ? Number(ms) : cells[3]!.startsWith('compacted') ? 'compact' : NaN,
      compacted: /compacted/.test(cells[3]!),
    });
  }
  return rows;
}

const CONSUMING_STAGES = ['face', 'backbone', 'temporal', 'sink'] as const;
/** Secrets the overlays reference but do not render: created by Strimzi (CA) or by the operator (docs/operations.md). */
const EXTERNAL_SECRETS: Record<Overlay, string[]> = {
  dev: ['emostream-kafka-cluster-ca-cert', 'emostream-camera-credentials'],
  gpu: [
    'emostream-kafka-cluster-ca-cert',
    'emostream-camera-credentials',
    ...['ingest', 'face', 'backbone', 'temporal', 'sink', 'keda'].map((role) => `emostream-kafka-${role}`),
  ],
};

for (const overlay of OVERLAYS) {
  describe(`overlay ${overlay}`, () => {
    const deployments = ofKind(overlay, 'Deployment');

    it('has one Deployment per stage', () => {
      assert.deepEqual(
        deployments.map((d) => d.metadata.name).sort(),
        ['backbone', 'face', 'ingest', 'sink', 'temporal'].map((s) => `emostream-${s}`),
      );
    });

    it('runs no container as root, and none may escalate', () => {
      for (const d of deployments) {
        const pod = podOf(d);
        for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
          const nonRoot = c.securityContext?.runAsNonRoot ?? pod.securityContext?.runAsNonRoot;
          const user = c.securityContext?.runAsUser ?? pod.securityContext?.runAsUser;
          assert.equal(nonRoot, true, `${name(d)}/${c.name}: runAsNonRoot`);
          assert.ok(typeof user === 'number' && user !== 0, `${name(d)}/${c.name}: runAsUser must be set and not 0`);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${name(d)}/${c.name}: allowPrivilegeEscalation`);
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${name(d)}/${c.name}: readOnlyRootFilesystem`);
        }
      }
    });

    it('gives every container liveness (/healthz) and readiness (/readyz) probes on its ops port, requests and limits', () => {
      for (const d of deployments) {
        for (const c of podOf(d).containers) {
          const where = `${name(d)}/${c.name}`;
          assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${where}: liveness probe`);
          assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${where}: readiness probe`);
          const ops = c.ports?.find((p) => p.name === 'ops');
          assert.equal(ops?.containerPort, Number(configValue(overlay, 'EMOSTREAM_OPS_PORT')), `${where}: ops port = EMOSTREAM_OPS_PORT`);
          for (const probe of [c.livenessProbe, c.readinessProbe])
            assert.equal(probe.httpGet!.port, 'ops', `${where}: probes use the ops port`);
          for (const kind of ['requests', 'limits'] as const) {
            for (const resource of ['cpu', 'memory']) assert.ok(c.resources?.[kind]?.[resource], `${where}: resources.${kind}.${resource}`);
          }
        }
      }
    });

    it('gives every stage longer to terminate than its drain grace period, a PDB and topology spread', () => {
      const graceMs = Number(configValue(overlay, 'EMOSTREAM_SHUTDOWN_GRACE_MS'));
      assert.ok(graceMs > 0);
      const pdbs = ofKind(overlay, 'PodDisruptionBudget');
      for (const d of deployments) {
        const pod = podOf(d);
        const own = mainContainer(pod, name(d)).env?.find((e) => e.name === 'EMOSTREAM_SHUTDOWN_GRACE_MS')?.value;
        assert.ok(
          pod.terminationGracePeriodSeconds! * 1000 >= Number(own ?? graceMs) + 5000,
          `${name(d)}: terminationGracePeriodSeconds must exceed the grace period by 5 s`,
        );
        const labels = d.spec!.template.metadata!.labels!;
        const pdb = pdbs.find(
          (p) =>
            Object.entries(p.spec!.selector!.matchLabels!).every(([k, v]) => labels[k] === v) &&
            p.spec!.selector!.matchLabels!['app.kubernetes.io/component'],
        );
        assert.ok(pdb, `${name(d)}: no PodDisruptionBudget selects it`);
        assert.ok((pod.topologySpreadConstraints?.length ?? 0) >= 1, `${name(d)}: topologySpreadConstraints`);
      }
    });

    it('references only ConfigMaps and Secrets that it renders or that are documented as created outside it', () => {
      const have = (kind: ManifestKind) => new Set(ofKind(overlay, kind).map((o) => o.metadata.name));
      const configMaps = have('ConfigMap');
      const secrets = new Set([...have('Secret'), ...EXTERNAL_SECRETS[overlay]]);
      for (const d of deployments) {
        const pod = podOf(d);
        for (const c of pod.containers) {
          for (const from of c.envFrom ?? [])
            if (from.configMapRef) assert.ok(configMaps.has(from.configMapRef.name!), `${name(d)}: ConfigMap ${from.configMapRef.name}`);
          for (const e of c.env ?? [])
            if (e.valueFrom?.secretKeyRef)
              assert.ok(secrets.has(e.valueFrom.secretKeyRef.name!), `${name(d)}: Secret ${e.valueFrom.secretKeyRef.name}`);
        }
        for (const v of pod.volumes ?? [])
          if (v.secret) assert.ok(secrets.has(v.secret.secretName!), `${name(d)}: Secret ${v.secret.secretName}`);
      }
      for (const t of ofKind(overlay, 'TriggerAuthentication')) {
        for (const ref of t.spec.secretTargetRef!) assert.ok(secrets.has(ref.name), `${name(t)}: Secret ${ref.name}`);
      }
    });

    it('scales each consuming stage on the lag of the group and topic it really uses, never beyond the topic partitions', () => {
      const prefix = configValue(overlay, 'EMOSTREAM_TOPIC_PREFIX');
      const scaled = ofKind(overlay, 'ScaledObject');
      for (const stage of CONSUMING_STAGES) {
        const target = `emostream-${stage}`;
        const so = scaled.find((s) => s.spec.scaleTargetRef.name === target);
        assert.ok(so, `no ScaledObject targets ${target}`);
        const spec = so.spec;
        assert.equal(spec.scaleTargetRef.kind ?? 'Deployment', 'Deployment');
        const trigger = spec.triggers.find((t) => t.type === 'kafka');
        assert.ok(trigger, `${name(so)}: no kafka trigger`);
        const { groupId, inputTopic } = stageBinding(stage, prefix);
        assert.equal(trigger.metadata.consumerGroup, groupId, `${name(so)}: consumerGroup`);
        assert.equal(trigger.metadata.topic, inputTopic, `${name(so)}: topic`);
        assert.equal(
          trigger.metadata.bootstrapServers,
          configValue(overlay, 'KAFKA_BROKERS'),
          `${name(so)}: bootstrapServers = KAFKA_BROKERS`,
        );
        // KEDA's operator runs in its own namespace (keda): a bare Service name resolves there, not here.
        const namespace = so.metadata.namespace!;
        for (const server of String(trigger.metadata.bootstrapServers).split(',')) {
          const host = server.split(':')[0]!;
          assert.ok(
            host.includes('.'),
            `${name(so)}: bootstrapServers ${server} is a bare name, which KEDA resolves in its own namespace; name the Service as <service>.${namespace}.svc`,
          );
        }
        const kafkaTopic = ofKind(overlay, 'KafkaTopic').find((t) => t.spec.topicName === inputTopic);
        assert.ok(kafkaTopic, `no KafkaTopic for ${inputTopic}`);
        assert.ok(
          spec.maxReplicaCount! <= kafkaTopic.spec.partitions!,
          `${name(so)}: maxReplicaCount ${spec.maxReplicaCount} > ${kafkaTopic.spec.partitions} partitions`,
        );
        assert.ok(spec.minReplicaCount! >= 1, `${name(so)}: never scale a stage to zero (its state and warm models)`);
        const deployment = byName(overlay, 'Deployment', target);
        assert.equal(deployment.spec!.replicas, undefined, `${target}: the ScaledObject owns replicas; the Deployment must not set them`);
      }
      const ingestReplicas = byName(overlay, 'Deployment', 'emostream-ingest').spec!.replicas!;
      const streams = ofKind(overlay, 'KafkaTopic').find((t) => t.spec.topicName === topicName(topics.streams, prefix));
      assert.ok(ingestReplicas <= streams!.spec.partitions!, 'ingest replicas <= streams partitions');
    });

    it('declares every topic of the code as a KafkaTopic with the retention docs/operations.md states', () => {
      const prefix = configValue(overlay, 'EMOSTREAM_TOPIC_PREFIX');
      const documented = documentedRetentions();
      const kafkaTopics = ofKind(overlay, 'KafkaTopic');
      const expected = ALL_TOPICS.map((t) => topicName(t, prefix)).sort();
      assert.deepEqual(kafkaTopics.map((t) => t.spec.topicName).sort(), expected);
      assert.deepEqual([...documented.keys()].sort(), expected, 'the guide documents every topic');
      for (const t of kafkaTopics) {
        const doc = documented.get(t.spec.topicName!)!;
        const config = t.spec.config!;
        assert.equal(t.spec.partitions, doc.partitions, `${name(t)}: partitions as documented`);
        if (doc.retentionMs === 'compact') {
          assert.equal(config['cleanup.policy'], 'compact', `${name(t)}: compacted`);
        } else {
          // A retention on a compacted topic (the tracker changelog) deletes old records besides compacting.
          assert.equal(config['cleanup.policy'], doc.compacted ? 'compact,delete' : 'delete', `${name(t)}: cleanup policy as documented`);
          assert.equal(Number(config['retention.ms']), doc.retentionMs, `${name(t)}: retention.ms as documented`);
          if (doc.retentionMs < 86_400_000)
            assert.ok(Number(config['segment.ms']) <= doc.retentionMs / 3, `${name(t)}: segments short enough for the retention to bite`);
        }
        assert.equal(t.metadata.labels!['strimzi.io/cluster'], 'emostream-kafka');
      }
      const retention = (topic: string) => Number(kafkaTopics.find((t) => t.spec.topicName === topic)!.spec.config!['retention.ms']);
      // Pictures of faces and the tracker's descriptors at most an hour; every biometric topic (face features too) at most two.
      for (const biometric of [...ALL_TOPICS.filter((t) => t.carriesImages), topics.faceTrackerState]) {
        assert.ok(retention(topicName(biometric, prefix)) <= 3_600_000, `${biometric.base}: biometric data kept at most 1 h`);
      }
      for (const biometric of ALL_TOPICS.filter(carriesBiometrics)) {
        assert.ok(retention(topicName(biometric, prefix)) <= 7_200_000, `${biometric.base}: biometric data kept at most 2 h`);
      }
      assert.ok(retention(topicName(topics.events, prefix)) >= 7 * 86_400_000, 'events kept at least 7 days');
    });

    it('lets only Prometheus reach the ops port, and the stages reach only DNS and the Kafka client listener', () => {
      const policy = byName(overlay, 'NetworkPolicy', 'emostream-stages').spec!;
      assert.deepEqual(policy.podSelector.matchLabels, { 'app.kubernetes.io/name': 'emostream' });
      assert.deepEqual(policy.policyTypes!.sort(), ['Egress', 'Ingress']);
      assert.equal(policy.ingress!.length, 1);
      assert.deepEqual(policy.ingress![0]!.ports, [{ protocol: 'TCP', port: Number(configValue(overlay, 'EMOSTREAM_OPS_PORT')) }]);
      assert.deepEqual(
        policy.ingress![0]!.from!.map((f) => f.podSelector!.matchLabels),
        [{ 'app.kubernetes.io/name': 'prometheus' }],
      );
      const kafkaPort = Number(configValue(overlay, 'KAFKA_BROKERS').split(',')[0]!.split(':')[1]);
      assert.ok(
        policy.egress!.some((e) => e.ports!.some((p) => p.port === kafkaPort)),
        'egress to the brokers',
      );
      const monitor = byName(overlay, 'PodMonitor', 'emostream-stages').spec;
      assert.deepEqual(monitor.selector.matchLabels, policy.podSelector.matchLabels);
      assert.equal(monitor.podMetricsEndpoints[0]!.port, 'ops');
    });
  });
}

describe('overlay specifics', () => {
  it('gpu: the backbone requests a GPU, runs the CUDA image and provider on GPU nodes; no other stage takes a GPU', () => {
    const backbone = podOf(byName('gpu', 'Deployment', 'emostream-backbone'));
    const container = mainContainer(backbone, 'emostream-backbone');
    assert.equal(container.resources!.requests!['nvidia.com/gpu'], '1');
    assert.equal(container.resources!.limits!['nvidia.com/gpu'], '1');
    assert.match(container.image!, /emostream-cuda:/);
    assert.equal(
      container
        .env!.filter((e) => e.name === 'EMOSTREAM_EXECUTION_PROVIDER')
        .map((e) => e.value)
        .join(),
      'cuda',
    );
    assert.equal(backbone.nodeSelector!['nvidia.com/gpu.present'], 'true');
    assert.ok(backbone.tolerations!.some((t) => t.key === 'nvidia.com/gpu' && t.effect === 'NoSchedule'));
    const limitsOf = (d: ManifestOf<'Deployment'>) => mainContainer(podOf(d), name(d)).resources!.limits!;
    for (const d of ofKind('gpu', 'Deployment').filter((d) => d.metadata.name !== 'emostream-backbone')) {
      assert.equal(limitsOf(d)['nvidia.com/gpu'], undefined, `${name(d)} takes no GPU`);
    }
    assert.equal(
      ofKind('dev', 'Deployment').some((d) => limitsOf(d)['nvidia.com/gpu']),
      false,
      'dev uses no GPU',
    );
  });

  it('gpu: face, backbone and temporal run the EMO-AffectNet pack from the packs volume', () => {
    for (const stage of ['face', 'backbone', 'temporal']) {
      const pod = podOf(byName('gpu', 'Deployment', `emostream-${stage}`));
      const container = mainContainer(pod, stage);
      const pack = container.env!.find((e) => e.name === 'EMOSTREAM_PACK')?.value;
      const mount = container.volumeMounts!.find((m) => m.name === 'packs');
      assert.ok(pack?.startsWith(`${mount?.mountPath}/`), `${stage}: EMOSTREAM_PACK ${pack} lies on the packs volume`);
      assert.equal(
        pod.volumes!.find((v) => v.name === 'packs')!.persistentVolumeClaim!.claimName,
        byName('gpu', 'PersistentVolumeClaim', 'emostream-packs').metadata.name,
      );
    }
  });

  it("dev: a Strimzi Kafka (KRaft) with the Kafka Exporter that the lag panels and alerts read, and the stages' SCRAM users", () => {
    const kafka = byName('dev', 'Kafka', 'emostream-kafka');
    assert.equal(kafka.metadata.annotations!['strimzi.io/kraft'], 'enabled');
    assert.ok(ofKind('dev', 'KafkaNodePool').some((p) => p.metadata.labels!['strimzi.io/cluster'] === 'emostream-kafka'));
    assert.ok(kafka.spec.kafkaExporter, 'kafkaExporter enabled (kafka_consumergroup_lag)');
    const exporter = byName('dev', 'PodMonitor', 'emostream-kafka-exporter');
    assert.equal(exporter.spec.selector.matchLabels!['strimzi.io/name'], 'emostream-kafka-kafka-exporter');
    const listener = kafka.spec.kafka.listeners.find(
      (l) => `emostream-kafka-kafka-bootstrap.${kafka.metadata.namespace}.svc:${l.port}` === configValue('dev', 'KAFKA_BROKERS'),
    );
    assert.ok(listener, 'KAFKA_BROKERS names a listener of the Kafka');
    assert.equal(listener.tls, true);
    assert.equal(`scram-${listener.authentication!.type.split('scram-')[1]}`, configValue('dev', 'KAFKA_SASL_MECHANISM'));
    assert.ok(
      listener.networkPolicyPeers!.some((p) => p.podSelector?.matchLabels?.['app.kubernetes.io/name'] === 'emostream'),
      'only the stages (and KEDA) reach the listener',
    );
    for (const user of ofKind('dev', 'KafkaUser')) {
      const secret = byName('dev', 'Secret', user.spec.authentication!.password!.valueFrom.secretKeyRef.name);
      assert.equal(
        Buffer.from(secret.data!.username!, 'base64').toString(),
        user.metadata.name,
        `${secret.metadata.name}: the Secret's username is the KafkaUser`,
      );
    }
  });

  it('dev: every stage runs the locally built emostream:dev image; gpu: the release images', () => {
    // An images entry that names an image the base has already renamed matches nothing, and
    // kustomize says nothing: the dev overlay once deployed the release image without anyone noticing.
    const images = (overlay: Overlay) => new Set(ofKind(overlay, 'Deployment').flatMap((d) => podOf(d).containers.map((c) => c.image)));
    assert.deepEqual([...images('dev')], ['emostream:dev']);
    assert.deepEqual([...images('gpu')].sort(), ['ghcr.io/emostream/emostream-cuda:0.1.0', 'ghcr.io/emostream/emostream:0.1.0']);
  });

  it('ships the dashboard that deploy/lib/dashboard.ts builds (run npm run deploy:dashboard after editing it)', () => {
    assert.equal(readFileSync(DASHBOARD_FILE, 'utf8'), dashboardJson());
    const configMap = byName('dev', 'ConfigMap', 'emostream-grafana-dashboard');
    assert.equal(configMap.metadata.labels!.grafana_dashboard, '1');
    assert.deepEqual(JSON.parse(configMap.data!['emostream-dashboard.json']!), JSON.parse(dashboardJson()));
  });
});

describe('validation catches broken manifests', () => {
  it('accepts every rendered object of every overlay', async () => {
    for (const overlay of OVERLAYS) assert.deepEqual(await validateObjects(rendered.get(overlay)!), [], overlay);
  });

  it('rejects a wrong type, a missing required field, an unknown Strimzi field and an unknown kind, naming each', async () => {
    const objects = structuredClone(rendered.get('dev')!);
    const clone = typedManifests(objects, 'a copy of overlay dev');
    const pick = <K extends ManifestKind>(kind: K): ManifestOf<K> => clone.ofKind(kind)[0]!;
    // Values of the wrong type on purpose, so set through Reflect: the types would (rightly) refuse them.
    Reflect.set(mainContainer(podOf(pick('Deployment')), 'Deployment').resources!, 'limits', 'lots');
    Reflect.deleteProperty(pick('ScaledObject').spec, 'scaleTargetRef');
    Reflect.set(pick('KafkaTopic').spec, 'retentionMs', 1000);
    Reflect.set(pick('PodMonitor').spec, 'podMetricsEndpoints', 'ops');
    objects.push({ apiVersion: 'example.com/v1', kind: 'Camera', metadata: { name: 'lobby' } });
    const problems = await validateObjects(objects);
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.match(problems.join('\n'), /Deployment\/emostream-\w+: .*resources\/limits must be object/);
    assert.match(problems.join('\n'), /ScaledObject\/emostream-\w+: .*scaleTargetRef/);
    assert.match(problems.join('\n'), /KafkaTopic\/emostream-\w+-v1: \/spec must NOT have additional properties "retentionMs"/);
    assert.match(problems.join('\n'), /PodMonitor\/emostream-[\w-]+: .*podMetricsEndpoints must be array/);
    assert.match(problems.join('\n'), /Camera\/lobby: no schema for example.com\/v1 Camera/);
  });

  it('fails the render of a kustomization whose patch targets nothing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'emostream-kustomize-'));
    try {
      cpSync(path.join(K8S_DIR, 'base'), path.join(dir, 'base'), { recursive: true });
      mkdirOverlay(dir);
      assert.throws(() => renderDir(path.join(dir, 'broken')), /emostream-nonexistent|no matches/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function mkdirOverlay(dir: string): void {
  const overlay = path.join(dir, 'broken');
  cpSync(path.join(K8S_DIR, 'overlays', 'gpu', 'namespace.yaml'), path.join(overlay, 'namespace.yaml'));
  writeFileSync(
    path.join(overlay, 'kustomization.yaml'),
    [
      'resources: [namespace.yaml, ../base]',
      'patches:',
      '  - patch: |-',
      '      apiVersion: apps/v1',
      '      kind: Deployment',
      '      metadata:',
      '        name: emostream-nonexistent',
      '      spec:',
      '        replicas: 2',
    ].join('\n'),
  );
}
