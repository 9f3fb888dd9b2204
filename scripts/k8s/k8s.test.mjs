// `npm run test:k8s`: the manifests on a real (local) control plane, autoscaling on real Kafka lag.
// Runs under scripts/with-kafka.mjs (KAFKA_BROKERS: a real broker on loopback). Not part of
// `npm test` (already ~22 min); .ci/run runs it after `npm test`.
//
//   1. every overlay applies with server-side apply and strict field validation, and a misspelt
//      field (built-in kind, KEDA kind, Strimzi kind) is refused by the API server;
//   2. gpu overlay on kwok nodes: the backbone only on GPU nodes (more replicas than GPUs stay
//      Pending, never on a CPU node), no other stage on a GPU node, the face stage spread over
//      zones and nodes, its PodDisruptionBudget refusing a second eviction at once;
//   3. KEDA (operator + metrics adapter, out of cluster) with the overlay's ScaledObjects pointed
//      at the local broker: a backlog on the frames topic for group emostream.face scales
//      emostream-face up to its partition count and no further; a backlog on the faces topic
//      scales emostream-backbone to lag / lagThreshold; both go back to 1 once the groups caught up.
//      Test-only changes (say so in the README): the broker address, no SASL/TLS (the local broker
//      is plaintext), and shorter polling/cooldown/stabilization so the run takes minutes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import YAML from 'yaml';
import { root } from './build.mjs';
import { applyArgs, applyObjects, logTail, sleep, startCluster, waitFor } from './cluster.mjs';
import { installCrds, renderOverlay } from './crds.mjs';
import { startKeda } from './keda.mjs';

const brokers = process.env.KAFKA_BROKERS;
if (!brokers) throw new Error('KAFKA_BROKERS is not set: run this through scripts/with-kafka.mjs (npm run test:k8s)');

const OVERLAYS = path.join(root, 'deploy', 'k8s', 'overlays');
const GPU_NS = 'emostream';

let cluster;
const docs = (yaml) => YAML.parseAllDocuments(yaml).map((d) => d.toJS());
const json = (args) => JSON.parse(cluster.kubectl([...args, '-o', 'json']).stdout);
const pods = (component) => json(['get', 'pods', '-n', GPU_NS, '-l', `app.kubernetes.io/component=${component}`]).items;
const replicas = (name) => json(['get', 'deployment', name, '-n', GPU_NS]).spec.replicas;
const isGpuNode = (name) => name.startsWith('gpu-');
const runningOn = (list) => list.filter((p) => p.status.phase === 'Running' && p.spec.nodeName);
const scale = (name, n) => cluster.kubectl(['scale', 'deployment', name, '-n', GPU_NS, `--replicas=${n}`]);

function apply(objectsOrYaml, opts) {
  const input = typeof objectsOrYaml === 'string' ? objectsOrYaml : objectsOrYaml.map((o) => JSON.stringify(o)).join('\n---\n');
  return cluster.kubectl(applyArgs(), { input, ...opts });
}

/** waitFor, with the pods of the namespace (and where they run) in the error. */
async function waitShowingPods(what, fn, timeoutMs = 90_000) {
  try {
    return await waitFor(what, fn, { timeoutMs, processes: cluster.processes });
  } catch (err) {
    throw new Error(`${err.message}\n${cluster.kubectl(['get', 'pods', '-n', GPU_NS, '-o', 'wide'], { check: false }).stdout}`);
  }
}

async function allDeploymentsAvailable(ns) {
  try {
    await waitFor(
      `every Deployment in ${ns} available on kwok nodes`,
      () => json(['get', 'deployments', '-n', ns]).items.every((d) => (d.status.availableReplicas ?? 0) === d.spec.replicas),
      { timeoutMs: 120_000, processes: cluster.processes },
    );
  } catch (err) {
    const state = cluster.kubectl(['get', 'deployments,pods', '-n', ns, '-o', 'wide'], { check: false }).stdout;
    const events = cluster.kubectl(['get', 'events', '-n', ns], { check: false }).stdout;
    throw new Error(`${err.message}\n${state}\n${events.split('\n').slice(-20).join('\n')}`);
  }
}

before(async () => {
  cluster = await startCluster({ hpaSyncPeriod: '5s' });
  await installCrds(cluster);
  // The pack volume's claim (components/emo-affectnet-pack) needs a volume to bind to before its
  // pods can be scheduled; a real cluster has a storage class or an NFS export for it.
  await applyObjects(cluster, [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: GPU_NS } },
    {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name: 'emostream-packs-local' },
      spec: {
        capacity: { storage: '2Gi' },
        accessModes: ['ReadOnlyMany'],
        storageClassName: '',
        hostPath: { path: '/var/lib/emostream-packs' },
        claimRef: { namespace: GPU_NS, name: 'emostream-packs' },
      },
    },
    // The Secrets the gpu overlay expects to be created outside it (docs/operations.md, "Credentials"):
    // the Deployments refer to them, and KEDA resolves a scale target's environment from them.
    ...['ingest', 'face', 'backbone', 'temporal', 'sink', 'keda'].map((role) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `emostream-kafka-${role}`, namespace: GPU_NS },
      stringData: { username: `emostream-${role}`, password: `local-test-only-${role}` },
    })),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'emostream-kafka-cluster-ca-cert', namespace: GPU_NS },
      stringData: { 'ca.crt': fs.readFileSync(path.join(cluster.stateDir, 'pki', 'ca.crt'), 'utf8') },
    },
  ]);
  // Pods are admitted only once their namespace's default ServiceAccount exists; a ReplicaSet that
  // tried too early backs off for long, so wait for it before the overlay creates any.
  await waitFor(
    `the default ServiceAccount of ${GPU_NS}`,
    () => cluster.kubectl(['get', 'sa', 'default', '-n', GPU_NS], { check: false }).status === 0,
    {
      processes: cluster.processes,
    },
  );
});

after(async () => {
  if (!cluster) return;
  if (process.exitCode) for (const p of cluster.processes) console.error(`--- ${p.name} (last lines)\n${logTail(p.logFile, 15)}`);
  await cluster.stop();
});

describe('the manifests on a local control plane', () => {
  it('every overlay applies with server-side apply and strict field validation', () => {
    const overlays = fs.readdirSync(OVERLAYS).filter((d) => fs.existsSync(path.join(OVERLAYS, d, 'kustomization.yaml')));
    assert.ok(overlays.includes('dev') && overlays.includes('gpu'), `overlays found: ${overlays}`);
    for (const overlay of overlays) {
      const yaml = renderOverlay(path.join(OVERLAYS, overlay));
      const result = apply(yaml, { check: false });
      assert.equal(result.status, 0, `${overlay}: apply failed:\n${result.stderr}`);
      // Every object is there afterwards (kubectl get fails on any missing one).
      const got = cluster.kubectl(['get', '-f', '-', '-o', 'name'], { input: yaml, check: false });
      assert.equal(got.status, 0, `${overlay}: objects missing after apply:\n${got.stderr}`);
      assert.equal(got.stdout.trim().split('\n').length, docs(yaml).length, `${overlay}: one object per rendered document`);
    }
  });

  it('a misspelt field is refused by the API server (built-in, KEDA and Strimzi kinds)', () => {
    const objects = docs(renderOverlay(path.join(OVERLAYS, 'gpu')));
    const find = (kind, name) => structuredClone(objects.find((o) => o.kind === kind && o.metadata.name === name));
    const face = find('Deployment', 'emostream-face');
    const container = face.spec.template.spec.containers[0];
    container.imagePullPolicyy = container.imagePullPolicy;
    delete container.imagePullPolicy;
    const scaled = find('ScaledObject', 'emostream-face');
    scaled.spec.maxReplicasCount = scaled.spec.maxReplicaCount;
    delete scaled.spec.maxReplicaCount;
    const topic = find('KafkaTopic', 'emostream-frames-v1');
    topic.spec.partition = topic.spec.partitions;
    delete topic.spec.partitions;
    for (const [obj, field] of [
      [face, 'imagePullPolicyy'],
      [scaled, 'maxReplicasCount'],
      [topic, 'partition'],
    ]) {
      const result = apply([obj], { check: false });
      assert.notEqual(result.status, 0, `${obj.kind} with a misspelt field was accepted`);
      // Server-side apply names the path: `.spec.maxReplicasCount: field not declared in schema`
      // (other writes: `unknown field "spec.maxReplicasCount"`).
      assert.match(
        result.stderr,
        new RegExp(`${field}"?: field not declared in schema|unknown field "[^"]*${field}"`),
        `${obj.kind}: ${result.stderr}`,
      );
    }
    // Nothing of the refused objects was stored.
    const stored = json(['get', 'deployment', 'emostream-face', '-n', GPU_NS]);
    assert.equal(stored.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');
  });
});

describe('scheduling in the gpu overlay (kwok nodes: 6 CPU nodes over 3 zones, 2 GPU nodes with 2 GPUs each)', () => {
  it('the backbone lands only on GPU nodes, no other stage does', async () => {
    await allDeploymentsAvailable(GPU_NS);
    // More replicas than GPUs: 4 run (on GPU nodes), 2 stay Pending rather than land on a CPU node.
    scale('emostream-backbone', 6);
    await waitShowingPods('4 backbone pods running and 2 unschedulable', () => {
      const list = pods('backbone');
      const unschedulable = list.filter((p) =>
        p.status.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
      );
      return list.length === 6 && runningOn(list).length === 4 && unschedulable.length === 2;
    });
    for (const pod of pods('backbone')) {
      if (pod.spec.nodeName) assert.ok(isGpuNode(pod.spec.nodeName), `backbone pod ${pod.metadata.name} on ${pod.spec.nodeName}`);
    }
    for (const component of ['ingest', 'face', 'temporal', 'sink']) {
      const list = runningOn(pods(component));
      assert.ok(list.length > 0, `no ${component} pod running`);
      for (const pod of list)
        assert.ok(!isGpuNode(pod.spec.nodeName), `${component} pod ${pod.metadata.name} on GPU node ${pod.spec.nodeName}`);
    }
    scale('emostream-backbone', 1);
  });

  it('the face stage spreads over zones and nodes, and its PodDisruptionBudget allows one eviction at a time', async () => {
    scale('emostream-face', 6);
    await waitFor('6 face pods running', () => runningOn(pods('face')).length === 6, { timeoutMs: 90_000, processes: cluster.processes });
    const nodes = json(['get', 'nodes']).items;
    const zoneOf = Object.fromEntries(nodes.map((n) => [n.metadata.name, n.metadata.labels['topology.kubernetes.io/zone']]));
    const cpuNodes = nodes.map((n) => n.metadata.name).filter((n) => !isGpuNode(n));
    const perNode = Object.fromEntries(cpuNodes.map((n) => [n, 0]));
    const perZone = {};
    for (const pod of runningOn(pods('face'))) {
      perNode[pod.spec.nodeName] += 1;
      perZone[zoneOf[pod.spec.nodeName]] = (perZone[zoneOf[pod.spec.nodeName]] ?? 0) + 1;
    }
    const skew = (counts) => Math.max(...counts) - Math.min(...counts);
    assert.ok(skew(Object.values(perNode)) <= 1, `face pods per CPU node: ${JSON.stringify(perNode)}`);
    assert.equal(Object.keys(perZone).length, 3, `face pods per zone: ${JSON.stringify(perZone)}`);
    assert.ok(skew(Object.values(perZone)) <= 1, `face pods per zone: ${JSON.stringify(perZone)}`);

    // PDB maxUnavailable 1, as in a node drain: with every node cordoned (no room for replacements)
    // one eviction is allowed, a second one is refused (429); once the nodes take pods again and the
    // replacement is healthy, the next eviction is allowed.
    const pdbAllows = () => {
      const pdb = json(['get', 'pdb', 'emostream-face', '-n', GPU_NS]);
      return pdb.status?.currentHealthy === 6 && pdb.status?.disruptionsAllowed === 1;
    };
    await waitFor('PDB emostream-face: 6 healthy, 1 disruption allowed', pdbAllows, { timeoutMs: 60_000, processes: cluster.processes });
    const evict = (pod) =>
      cluster.kubectl(['create', '--raw', `/api/v1/namespaces/${GPU_NS}/pods/${pod}/eviction`, '-f', '-'], {
        check: false,
        input: JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: pod, namespace: GPU_NS } }),
      });
    const [first, second, third] = runningOn(pods('face')).map((p) => p.metadata.name);
    const allNodes = nodes.map((n) => n.metadata.name);
    cluster.kubectl(['cordon', ...allNodes]);
    const ok = evict(first);
    assert.equal(ok.status, 0, `first eviction refused: ${ok.stderr}`);
    const refused = evict(second);
    assert.notEqual(refused.status, 0, 'a second eviction at once was allowed despite maxUnavailable: 1');
    assert.match(refused.stderr, /disruption budget|TooManyRequests|429/i, refused.stderr);
    assert.ok(
      pods('face').some((p) => p.metadata.name === second && !p.metadata.deletionTimestamp),
      'the refused pod must still run',
    );
    cluster.kubectl(['uncordon', ...allNodes]);
    await waitFor('the evicted face pod replaced and the budget back to 1', pdbAllows, { timeoutMs: 90_000, processes: cluster.processes });
    const again = evict(third);
    assert.equal(again.status, 0, `eviction refused once the budget allowed it again: ${again.stderr}`);
    scale('emostream-face', 1);
    await waitFor('face back to 1 pod', () => pods('face').filter((p) => !p.metadata.deletionTimestamp).length === 1, {
      timeoutMs: 90_000,
      processes: cluster.processes,
    });
  });
});

describe('KEDA autoscaling on real Kafka lag (local broker)', () => {
  const kafka = new Kafka({ clientId: 'k8s-test', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const producer = kafka.producer();
  // Input topic and partitions of each consuming stage, as in deploy/k8s/base/topics.yaml.
  const TOPICS = ['emostream.frames.v1', 'emostream.faces.v1', 'emostream.embeddings.v1', 'emostream.emotions.v1'];
  const PARTITIONS = 12;

  before(async () => {
    await admin.connect();
    await producer.connect();
    await admin.createTopics({
      topics: TOPICS.map((topic) => ({ topic, numPartitions: PARTITIONS, replicationFactor: 1 })),
      waitForLeaders: true,
    });
    // The overlay's ScaledObjects, pointed at the local broker (test-only changes listed at the top).
    const scaledObjects = docs(renderOverlay(path.join(OVERLAYS, 'gpu'))).filter((o) => o.kind === 'ScaledObject');
    assert.equal(scaledObjects.length, 4);
    for (const so of scaledObjects) {
      so.spec.pollingInterval = 5;
      so.spec.cooldownPeriod = 15;
      so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown = {
        stabilizationWindowSeconds: 15,
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      };
      for (const trigger of so.spec.triggers) {
        delete trigger.authenticationRef;
        trigger.metadata.bootstrapServers = brokers;
        delete trigger.metadata.sasl;
        delete trigger.metadata.tls;
      }
    }
    apply(scaledObjects);
    await startKeda(cluster);
  });

  after(async () => {
    await producer.disconnect();
    await admin.disconnect();
  });

  it('a backlog scales face up to its partition count and backbone to lag / lagThreshold, and both back to 1 when it is gone', async (t) => {
    await waitFor(
      "KEDA's HPAs for face and backbone",
      () => {
        const hpas = json(['get', 'hpa', '-n', GPU_NS]).items.map((h) => h.metadata.name);
        return hpas.includes('keda-hpa-emostream-face') && hpas.includes('keda-hpa-emostream-backbone');
      },
      { timeoutMs: 60_000, processes: cluster.processes },
    );
    assert.equal(replicas('emostream-face'), 1);
    assert.equal(replicas('emostream-backbone'), 1);

    // face: lagThreshold 20; 50 records on each of 12 partitions (lag 600) asks for 30 replicas,
    // capped at 12 (allowIdleConsumers false: one replica per partition at most).
    // backbone: lagThreshold 200; 600 records on the faces topic asks for exactly 3.
    const records = (n) => Array.from({ length: n }, (_, i) => ({ key: `cam-${i % 97}`, value: `frame-${i}` }));
    for (let p = 0; p < PARTITIONS; p += 1) {
      await producer.send({ topic: 'emostream.frames.v1', messages: records(50).map((m) => ({ ...m, partition: p })) });
      await producer.send({ topic: 'emostream.faces.v1', messages: records(50).map((m) => ({ ...m, partition: p })) });
    }

    const seen = { face: [], backbone: [], temporal: [], sink: [] };
    const sample = () => {
      for (const stage of Object.keys(seen)) seen[stage].push(replicas(`emostream-${stage}`));
    };
    await waitFor(
      'face at 12 replicas and backbone at 3',
      () => {
        sample();
        return seen.face.at(-1) === PARTITIONS && seen.backbone.at(-1) === 3;
      },
      { timeoutMs: 240_000, intervalMs: 2000, processes: cluster.processes },
    );
    // Hold a while: the count stays at the partition cap (the metric says 30).
    for (let i = 0; i < 5; i += 1) {
      await sleep(2000);
      sample();
    }
    t.diagnostic(`replicas every 2 s after the backlog: face ${seen.face.join(' ')}; backbone ${seen.backbone.join(' ')}`);
    assert.equal(Math.max(...seen.face), PARTITIONS, `face replicas seen: ${seen.face}`);
    assert.equal(Math.max(...seen.backbone), 3, `backbone replicas seen: ${seen.backbone}`);
    assert.deepEqual([...new Set(seen.temporal)], [1], 'temporal has no lag and must stay at 1');
    assert.deepEqual([...new Set(seen.sink)], [1], 'sink has no lag and must stay at 1');
    await waitFor('12 face pods running', () => runningOn(pods('face')).length === PARTITIONS, {
      timeoutMs: 90_000,
      processes: cluster.processes,
    });
    for (const pod of runningOn(pods('backbone'))) assert.ok(isGpuNode(pod.spec.nodeName), `backbone pod on ${pod.spec.nodeName}`);

    // The stages caught up: each group's committed offsets move to the end of its topic.
    for (const [groupId, topic] of [
      ['emostream.face', 'emostream.frames.v1'],
      ['emostream.backbone', 'emostream.faces.v1'],
    ]) {
      const ends = await admin.fetchTopicOffsets(topic);
      await admin.setOffsets({ groupId, topic, partitions: ends.map((e) => ({ partition: e.partition, offset: e.high })) });
    }
    const caughtUp = Date.now();
    await waitFor('face and backbone back to 1 replica', () => replicas('emostream-face') === 1 && replicas('emostream-backbone') === 1, {
      timeoutMs: 240_000,
      intervalMs: 2000,
      processes: cluster.processes,
    });
    t.diagnostic(`back to 1 replica ${Math.round((Date.now() - caughtUp) / 1000)} s after the groups caught up`);
  });
});
