// `npm run test:k8s`: the manifests on a real (local) control plane, autoscaling on real Kafka lag.
// Starts its own Kafka broker: a PLAINTEXT listener for the test itself, and the SASL_SSL +
// SCRAM-SHA-512 listener the shipped ScaledObjects expect, under the name and port they give. Not
// part of `npm test`; .ci/run runs it after it.
//
// Every claim is set against the same setting removed or changed, in the same run, so that it cannot
// pass by accident (a "counterpart"):
//
//   1. every overlay applies with the command the overlays' headers give (`kubectl apply
//      --server-side`), and a misspelt field (built-in, KEDA and Strimzi kinds) is refused by
//      server-side apply itself: also with `--validate=false` (so not field validation), while
//      `kubectl create --validate=false` (counterpart: no server-side apply, no field validation)
//      stores each object with the field silently dropped;
//   2. scheduling, gpu overlay on kwok nodes laid out for it (CPU zones of 4, 1 and 1 nodes; two GPU
//      nodes with the label GPU feature discovery sets, one with GPUs and the taint but no label):
//      - the backbone runs only on the labelled GPU nodes, 2 of 6 replicas Pending although the
//        unlabelled node has 2 free GPUs; counterpart: the same Deployment without its nodeSelector
//        runs there (so the selector, not the GPU request or the toleration, keeps it off);
//      - face's topologySpreadConstraints (soft: ScheduleAnyway) count every pod with face's labels:
//        beside 2 + 2 such pods of no face ReplicaSet (as the old ReplicaSet's during a rollout) in
//        zones b and c, 3 new face pods go to zone a, one per node; counterpart: without the
//        constraints (the scheduler's default spreading counts the pod's own ReplicaSet only) some
//        land in zones b and c. On one ReplicaSet alone the soft constraints and the default spread
//        give the same layout (same scoring; tried: 6 pods over those zones, 3/2/1 both ways), so
//        that is not what is tested;
//      - face's PodDisruptionBudget lets one eviction through and refuses the second at once, and
//        allows the next once the replacement is healthy; counterpart: PDB deleted, two at once pass;
//      - no other stage runs on a GPU node: this credits the nodes' taint (test setup) and that no
//        other stage tolerates it; no counterpart in the run (where a tolerating pod lands is up to
//        scoring). Mutation run by hand: the GPU toleration added to ingest, face, temporal and sink
//        (base/stages) → `ingest pod emostream-ingest-8c6b54649-kddps on GPU node gpu-b1`;
//   3. KEDA with the gpu overlay's ScaledObjects and TriggerAuthentication as shipped (bootstrap
//      name and port, SASL SCRAM-SHA-512 with the Secret emostream-kafka-keda, TLS with the CA from
//      emostream-kafka-cluster-ca-cert, polling 15 s, HPA behaviour), the operator resolving the
//      bootstrap name through a private /etc/hosts (scripts/k8s/keda.mjs):
//      - every shipped ScaledObject READY True, with the broker checking ACLs and the KEDA user given
//        those of the dev overlay's KafkaUser emostream-keda; counterparts READY False: a wrong
//        password (SASL authentication failed), a user without ACLs, the bare Service name the base
//        once had (no such host);
//      - a backlog scales face to its topic's partition count, 8 here (the frames topic is created
//        with 8 partitions, below face's maxReplicaCount 12; base/topics.yaml has 12, where the two
//        caps coincide); counterpart allowIdleConsumers "true": 12, the replica cap;
//      - backbone to its maxReplicaCount 4 although the lag asks for 6; counterpart without it: 6;
//      - temporal to lag / lagThreshold = 600 / 200 = 3; counterpart KEDA's default threshold 10: 6
//        (its maxReplicaCount); sink, without lag, stays at 1;
//      - consumers in the stages' groups then read the backlog and commit (no offsets moved by hand)
//        and KEDA's lag on the HPAs falls from its value under backlog to 0.
//
// Not exercised (README, "Try the manifests on a local control plane"): the shipped scale-down (5 min
// stabilization, then one pod per 2 min: the test only checks KEDA put it on the HPAs); no container
// runs; no Strimzi or Prometheus operator runs; the HPA controller syncs every 5 s (default 15 s).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import YAML from 'yaml';

import { startKafka } from '../kafka/kafka.mjs';
import { root } from './build.mjs';
import { applyObjects, issueCert, logTail, makeCa, sleep, startCluster, waitFor } from './cluster.mjs';
import { installCrds, renderOverlay } from './crds.mjs';
import { startKeda } from './keda.mjs';

// kafkajs is CommonJS: its ACL enums are not named exports.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, Kafka, logLevel, ResourcePatternTypes } = kafkajs;

const OVERLAYS = path.join(root, 'deploy', 'k8s', 'overlays');
const GPU_NS = 'emostream';
// What the overlays' headers and the README tell users to run (kubectl's default --validate is strict).
const USER_APPLY = ['apply', '--server-side', '-f', '-'];

// Zones of 4, 1 and 1 CPU nodes: the default scheduler puts one face pod per node (4 in zone-a);
// only the zone constraint makes it 2 per zone. Two labelled GPU nodes (4 GPUs) and one node that
// offers 2 GPUs (and the GPU taint) without the label GPU feature discovery sets.
const NODES = [
  ...[1, 2, 3, 4].map((i) => ({ name: `cpu-a${i}`, zone: 'zone-a', gpus: 0 })),
  { name: 'cpu-b1', zone: 'zone-b', gpus: 0 },
  { name: 'cpu-c1', zone: 'zone-c', gpus: 0 },
  { name: 'gpu-a1', zone: 'zone-a', gpus: 2 },
  { name: 'gpu-b1', zone: 'zone-b', gpus: 2 },
  { name: 'gpu-unlabelled-c1', zone: 'zone-c', gpus: 2, gpuLabel: false },
];
const LABELLED_GPUS = 4;

let cluster;
let broker;
const docs = (yaml) => YAML.parseAllDocuments(yaml).map((d) => d.toJS());
const json = (args) => JSON.parse(cluster.kubectl([...args, '-o', 'json']).stdout);
const podsOf = (component, ns = GPU_NS) => json(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/component=${component}`]).items;
const replicas = (name) => json(['get', 'deployment', name, '-n', GPU_NS]).spec.replicas;
const isGpuNode = (name) => name.startsWith('gpu-');
const runningOn = (list) => list.filter((p) => p.status.phase === 'Running' && p.spec.nodeName && !p.metadata.deletionTimestamp);
const scale = (name, n) => cluster.kubectl(['scale', 'deployment', name, '-n', GPU_NS, `--replicas=${n}`]);
let rendered;
/** The gpu overlay's objects, rendered once (a fresh copy per call). */
const gpuObjects = () => structuredClone((rendered ??= docs(renderOverlay(path.join(OVERLAYS, 'gpu')))));
const shipped = (kind, name) => {
  const found = gpuObjects().find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(found, `the gpu overlay has no ${kind} ${name}`);
  return found;
};

function kubectlWith(args, objects, opts = {}) {
  const input = objects.map((o) => JSON.stringify(o)).join('\n---\n');
  return cluster.kubectl(args, { input, check: false, ...opts });
}

/** A copy of a rendered Deployment under another name and component label (its own pods, selector and PDB-free). */
function twinDeployment(deployment, component, change) {
  const twin = structuredClone(deployment);
  twin.metadata = { name: `emostream-${component}`, namespace: GPU_NS, labels: { 'app.kubernetes.io/component': component } };
  twin.spec.selector = { matchLabels: { 'app.kubernetes.io/component': component } };
  twin.spec.template.metadata.labels = { 'app.kubernetes.io/component': component };
  change(twin.spec);
  return twin;
}

/** waitFor, with the pods of the namespace (and where they run) in the error. */
async function waitShowingPods(what, fn, timeoutMs = 90_000) {
  try {
    return await waitFor(what, fn, { timeoutMs, processes: cluster.processes });
  } catch (err) {
    throw new Error(`${err.message}\n${cluster.kubectl(['get', 'pods', '-n', GPU_NS, '-o', 'wide'], { check: false }).stdout}`, {
      cause: err,
    });
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
    throw new Error(`${err.message}\n${state}\n${events.split('\n').slice(-20).join('\n')}`, { cause: err });
  }
}

// The Kafka the shipped ScaledObjects name: `host:port` from their bootstrapServers, served by the
// test broker's SASL_SSL listener on a loopback address of its own (port as shipped, so another
// address than 127.0.0.1 to stay clear of anything else on this machine), with a certificate for that
// name from a CA that goes into the Secret emostream-kafka-cluster-ca-cert, and the KEDA user's SCRAM
// credentials those of the Secret emostream-kafka-keda.
const kafkaCa = {};
function shippedBootstrap() {
  const servers = new Set(
    gpuObjects()
      .filter((o) => o.kind === 'ScaledObject')
      .map((so) => so.spec.triggers[0].metadata.bootstrapServers),
  );
  assert.equal(servers.size, 1, `the ScaledObjects name one bootstrap address: ${[...servers]}`);
  const [host, port] = [...servers][0].split(':');
  return { host, port: Number(port) };
}

let brokerDir;
async function startTestBroker() {
  const { host, port } = shippedBootstrap();
  brokerDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emostream-k8s-kafka-'));
  const dir = path.join(brokerDir, 'pki');
  fs.mkdirSync(dir);
  makeCa(dir, 'ca', 'emostream-kafka-test-ca');
  issueCert(dir, 'broker', { subject: '/CN=emostream-kafka-broker', sans: [`DNS:${host}`] });
  // PEM key store: the unencrypted PKCS#8 key and the certificate in one file.
  const keystore = path.join(dir, 'broker-keystore.pem');
  fs.writeFileSync(keystore, ['broker.key', 'broker.crt'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join(''));
  Object.assign(kafkaCa, {
    host,
    port,
    ip: `127.${100 + crypto.randomInt(150)}.${crypto.randomInt(256)}.${1 + crypto.randomInt(254)}`,
    ca: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    kedaUser: { username: 'emostream-keda', password: crypto.randomBytes(12).toString('hex') },
    // A user the broker knows but that has no ACLs (a counterpart to the KEDA user's ACLs).
    userWithoutAcls: { username: 'emostream-keda-without-acls', password: crypto.randomBytes(12).toString('hex') },
  });
  broker = await startKafka({
    logFile: path.join(brokerDir, 'kafka.log'),
    saslSsl: {
      bind: `${kafkaCa.ip}:${port}`,
      advertised: `${host}:${port}`,
      keystore,
      users: [kafkaCa.kedaUser, kafkaCa.userWithoutAcls],
    },
    // ACLs checked, as on the Strimzi Kafka (authorization: simple); the test's own clients use the
    // PLAINTEXT listener (principal ANONYMOUS), the KEDA users only the ACLs the test gives them.
    authorizer: { superUsers: ['User:ANONYMOUS'] },
  });
}

before(async () => {
  // The broker first (as scripts/with-kafka.mjs would): its start-up check is slow on a busy machine.
  await startTestBroker();
  cluster = await startCluster({ nodes: NODES, hpaSyncPeriod: '5s' });
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
    // The Secrets the gpu overlay expects to be created outside it (docs/operations.md, "Credentials"),
    // under the names it documents: KEDA's user as the broker knows it, and the broker's CA.
    ...['ingest', 'face', 'backbone', 'temporal', 'sink'].map((role) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `emostream-kafka-${role}`, namespace: GPU_NS },
      stringData: { username: `emostream-${role}`, password: `local-test-only-${role}` },
    })),
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'emostream-kafka-keda', namespace: GPU_NS },
      stringData: { username: kafkaCa.kedaUser.username, password: kafkaCa.kedaUser.password },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'emostream-kafka-cluster-ca-cert', namespace: GPU_NS },
      stringData: { 'ca.crt': kafkaCa.ca },
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
  if (process.exitCode) {
    for (const p of cluster?.processes ?? []) console.error(`--- ${p.name} (last lines)\n${logTail(p.logFile, 15)}`);
    if (broker) console.error(`--- kafka (last lines)\n${logTail(broker.logFile, 15)}`);
  }
  await broker?.stop();
  await cluster?.stop();
  if (brokerDir) fs.rmSync(brokerDir, { recursive: true, force: true });
});

describe('the manifests on a local control plane', () => {
  it('every overlay applies with `kubectl apply --server-side`, as its header says', () => {
    const overlays = fs.readdirSync(OVERLAYS).filter((d) => fs.existsSync(path.join(OVERLAYS, d, 'kustomization.yaml')));
    assert.ok(overlays.includes('dev') && overlays.includes('gpu'), `overlays found: ${overlays}`);
    for (const overlay of overlays) {
      const header = fs.readFileSync(path.join(OVERLAYS, overlay, 'kustomization.yaml'), 'utf8');
      assert.match(
        header,
        new RegExp(`kubectl apply --server-side -k deploy/k8s/overlays/${overlay}`),
        `${overlay}: the command the test runs`,
      );
      const yaml = renderOverlay(path.join(OVERLAYS, overlay));
      const result = cluster.kubectl(USER_APPLY, { input: yaml, check: false });
      assert.equal(result.status, 0, `${overlay}: apply failed:\n${result.stderr}`);
      // Every object is there afterwards (kubectl get fails on any missing one).
      const got = cluster.kubectl(['get', '-f', '-', '-o', 'name'], { input: yaml, check: false });
      assert.equal(got.status, 0, `${overlay}: objects missing after apply:\n${got.stderr}`);
      assert.equal(got.stdout.trim().split('\n').length, docs(yaml).length, `${overlay}: one object per rendered document`);
    }
  });

  it('a misspelt field is refused by server-side apply (built-in, KEDA and Strimzi kinds), whatever --validate says', () => {
    const face = shipped('Deployment', 'emostream-face');
    const container = face.spec.template.spec.containers[0];
    container.imagePullPolicyy = container.imagePullPolicy;
    delete container.imagePullPolicy;
    const scaled = shipped('ScaledObject', 'emostream-face');
    scaled.spec.maxReplicasCount = scaled.spec.maxReplicaCount;
    delete scaled.spec.maxReplicaCount;
    const topic = shipped('KafkaTopic', 'emostream-frames-v1');
    topic.spec.partition = topic.spec.partitions;
    delete topic.spec.partitions;
    const misspelt = [
      [face, 'imagePullPolicyy', (o) => o.spec.template.spec.containers[0]],
      [scaled, 'maxReplicasCount', (o) => o.spec],
      [topic, 'partition', (o) => o.spec],
    ];

    for (const [obj, field] of misspelt) {
      // As users run it, and with field validation switched off: server-side apply builds the
      // object from the schema and refuses a field the schema lacks (`.spec.maxReplicasCount: field
      // not declared in schema`), before and apart from field validation.
      for (const validate of [[], ['--validate=false']]) {
        const result = kubectlWith([...USER_APPLY, ...validate], [obj]);
        assert.notEqual(result.status, 0, `${obj.kind} with ${field} accepted by apply --server-side ${validate}`);
        assert.match(result.stderr, new RegExp(`${field}"?: field not declared in schema`), `${obj.kind} ${validate}: ${result.stderr}`);
      }
    }
    // Nothing of the refused objects was stored.
    const stored = json(['get', 'deployment', 'emostream-face', '-n', GPU_NS]);
    assert.equal(stored.spec.template.spec.containers[0].imagePullPolicy, 'IfNotPresent');

    // Counterpart: without server-side apply and without field validation, the API server takes
    // the same objects and drops the misspelt field without a word (here in a scratch namespace).
    const scratch = 'misspelt-scratch';
    cluster.kubectl(['create', 'namespace', scratch]);
    try {
      for (const [obj, field, at] of misspelt) {
        const copy = structuredClone(obj);
        copy.metadata.namespace = scratch;
        const created = kubectlWith(['create', '--validate=false', '-o', 'json', '-f', '-'], [copy]);
        assert.equal(created.status, 0, `${obj.kind}: kubectl create --validate=false refused it:\n${created.stderr}`);
        const storedCopy = json(['get', obj.kind, obj.metadata.name, '-n', scratch]);
        assert.ok(!(field in at(storedCopy)), `${obj.kind}: ${field} stored`);
      }
    } finally {
      cluster.kubectl(['delete', 'namespace', scratch, '--wait=false']);
    }
  });
});

describe('scheduling in the gpu overlay (kwok nodes: CPU zones of 4, 1 and 1 nodes; 2 labelled GPU nodes, 1 unlabelled)', () => {
  it('the backbone lands only on labelled GPU nodes (its nodeSelector), no other stage on a GPU node', async () => {
    await allDeploymentsAvailable(GPU_NS);
    // More replicas than labelled GPUs: 4 run on them, 2 stay Pending — although the unlabelled
    // node offers 2 free GPUs and the backbone tolerates its taint.
    scale('emostream-backbone', 6);
    await waitShowingPods('4 backbone pods running and 2 unschedulable', () => {
      const list = podsOf('backbone');
      const unschedulable = list.filter((p) =>
        p.status.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable'),
      );
      return list.length === 6 && runningOn(list).length === LABELLED_GPUS && unschedulable.length === 2;
    });
    const labelled = new Set(json(['get', 'nodes', '-l', 'nvidia.com/gpu.present=true']).items.map((n) => n.metadata.name));
    for (const pod of podsOf('backbone')) {
      if (pod.spec.nodeName) assert.ok(labelled.has(pod.spec.nodeName), `backbone pod ${pod.metadata.name} on ${pod.spec.nodeName}`);
    }
    for (const component of ['ingest', 'face', 'temporal', 'sink']) {
      const list = runningOn(podsOf(component));
      assert.ok(list.length > 0, `no ${component} pod running`);
      for (const pod of list)
        assert.ok(!isGpuNode(pod.spec.nodeName), `${component} pod ${pod.metadata.name} on GPU node ${pod.spec.nodeName}`);
    }

    // Counterpart: the same Deployment without its nodeSelector runs on the unlabelled node, so the
    // selector (not the GPU request or the toleration) is what kept the backbone off it.
    const twin = twinDeployment(shipped('Deployment', 'emostream-backbone'), 'backbone-no-selector', (spec) => {
      assert.deepEqual(spec.template.spec.nodeSelector, { 'nvidia.com/gpu.present': 'true' });
      delete spec.template.spec.nodeSelector;
      spec.replicas = 2;
    });
    assert.equal(kubectlWith(USER_APPLY, [twin]).status, 0);
    await waitShowingPods('2 backbone pods without nodeSelector running', () => runningOn(podsOf('backbone-no-selector')).length === 2);
    const nodesOfTwin = runningOn(podsOf('backbone-no-selector')).map((p) => p.spec.nodeName);
    assert.deepEqual(nodesOfTwin, ['gpu-unlabelled-c1', 'gpu-unlabelled-c1'], 'without the nodeSelector, where the backbone lands');
    cluster.kubectl(['delete', 'deployment', twin.metadata.name, '-n', GPU_NS]);
    scale('emostream-backbone', 1);
  });

  it("face's topology spread counts every pod with its labels (as a previous ReplicaSet's, mid-rollout); the scheduler's default only its own", async (t) => {
    // Soft constraints (ScheduleAnyway) score exactly as the scheduler's default spreading does
    // (kube-scheduler v1.34 podtopologyspread/scoring.go: maxSkew only adds a constant), so on a
    // Deployment's own pods the layout is the same with or without them (tried: 6 pods over zones of
    // 4, 1 and 1 nodes, 3/2/1 both ways). What they change: they count every pod with the stage's
    // labels, where the default counts the pod's own ReplicaSet only. So: 2 pods with face's labels
    // but of no ReplicaSet of face (as the old ReplicaSet's pods are during a rollout) on each of the
    // one-node zones b and c; 3 new face pods must then go to zone a, one per node. The counterpart
    // (same Deployment without topologySpreadConstraints, same kind of pods beside it) puts some
    // of its 3 in zones b and c.
    const zoneOf = Object.fromEntries(
      json(['get', 'nodes']).items.map((n) => [n.metadata.name, n.metadata.labels['topology.kubernetes.io/zone']]),
    );
    const previousPods = (labels) =>
      ['cpu-b1', 'cpu-b1', 'cpu-c1', 'cpu-c1'].map((nodeName, i) => ({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${labels['app.kubernetes.io/component']}-previous-${i}`,
          namespace: GPU_NS,
          labels: { ...labels, 'emostream.test/previous': 'true' },
        },
        spec: {
          nodeName,
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10.1', resources: { requests: { cpu: '1', memory: '1Gi' } } }],
        },
      }));
    const ownPods = (component) => runningOn(podsOf(component)).filter((p) => !p.metadata.labels['emostream.test/previous']);
    const placeBeside = async (component, labels, start) => {
      assert.equal(kubectlWith(USER_APPLY, previousPods(labels)).status, 0);
      await waitShowingPods(
        `4 previous ${component} pods running`,
        () => runningOn(podsOf(component)).length - ownPods(component).length === 4,
      );
      const before = new Set(ownPods(component).map((p) => p.metadata.name));
      await start();
      await waitShowingPods(
        `3 new ${component} pods running`,
        () => ownPods(component).filter((p) => !before.has(p.metadata.name)).length === 3,
      );
      return ownPods(component)
        .filter((p) => !before.has(p.metadata.name))
        .map((p) => p.spec.nodeName)
        .sort();
    };
    const deletePrevious = () => cluster.kubectl(['delete', 'pods', '-n', GPU_NS, '-l', 'emostream.test/previous=true', '--wait=false']);

    const faceLabels = shipped('Deployment', 'emostream-face').spec.template.metadata.labels;
    const withSpread = await placeBeside('face', faceLabels, async () => scale('emostream-face', replicas('emostream-face') + 3));
    t.diagnostic(`new face pods beside 2 + 2 previous ones in zones b and c: ${withSpread}`);
    assert.deepEqual(
      withSpread.map((n) => zoneOf[n]),
      ['zone-a', 'zone-a', 'zone-a'],
      `new face pods on ${withSpread}`,
    );
    assert.equal(new Set(withSpread).size, 3, `new face pods one per node: ${withSpread}`);
    deletePrevious();

    const twin = twinDeployment(shipped('Deployment', 'emostream-face'), 'face-no-spread', (spec) => {
      assert.equal(spec.template.spec.topologySpreadConstraints.length, 2);
      delete spec.template.spec.topologySpreadConstraints;
      spec.replicas = 3;
    });
    const without = await placeBeside('face-no-spread', twin.spec.template.metadata.labels, async () =>
      assert.equal(kubectlWith(USER_APPLY, [twin]).status, 0),
    );
    t.diagnostic(`without topologySpreadConstraints, beside the same: ${without}`);
    assert.ok(
      without.some((n) => zoneOf[n] !== 'zone-a'),
      `without topologySpreadConstraints the previous pods must not count, and some pods land in zones b and c: ${without}`,
    );
    deletePrevious();
    cluster.kubectl(['delete', 'deployment', twin.metadata.name, '-n', GPU_NS]);
  });

  it("face's PodDisruptionBudget allows one eviction at a time", async () => {
    // PDB maxUnavailable 1, as in a node drain: with every node cordoned (no room for replacements)
    // one eviction is allowed, a second one is refused (429); once the nodes take pods again and the
    // replacement is healthy, the next eviction is allowed.
    scale('emostream-face', 6);
    await waitShowingPods('6 face pods running', () => runningOn(podsOf('face')).length === 6);
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
    const [first, second, third] = runningOn(podsOf('face')).map((p) => p.metadata.name);
    const allNodes = json(['get', 'nodes']).items.map((n) => n.metadata.name);
    cluster.kubectl(['cordon', ...allNodes]);
    const ok = evict(first);
    assert.equal(ok.status, 0, `first eviction refused: ${ok.stderr}`);
    const refused = evict(second);
    assert.notEqual(refused.status, 0, 'a second eviction at once was allowed despite maxUnavailable: 1');
    assert.match(refused.stderr, /disruption budget|TooManyRequests|429/i, refused.stderr);
    assert.ok(
      podsOf('face').some((p) => p.metadata.name === second && !p.metadata.deletionTimestamp),
      'the refused pod must still run',
    );
    cluster.kubectl(['uncordon', ...allNodes]);
    await waitFor('the evicted face pod replaced and the budget back to 1', pdbAllows, { timeoutMs: 90_000, processes: cluster.processes });
    const again = evict(third);
    assert.equal(again.status, 0, `eviction refused once the budget allowed it again: ${again.stderr}`);

    // Counterpart: without the PodDisruptionBudget, two evictions at once both go through.
    await waitShowingPods('6 face pods running again', () => runningOn(podsOf('face')).length === 6);
    cluster.kubectl(['delete', 'pdb', 'emostream-face', '-n', GPU_NS]);
    cluster.kubectl(['cordon', ...allNodes]);
    const [fourth, fifth] = runningOn(podsOf('face')).map((p) => p.metadata.name);
    for (const pod of [fourth, fifth]) {
      const r = evict(pod);
      assert.equal(r.status, 0, `without a PodDisruptionBudget, eviction of ${pod} refused: ${r.stderr}`);
    }
    cluster.kubectl(['uncordon', ...allNodes]);
    assert.equal(kubectlWith(USER_APPLY, [shipped('PodDisruptionBudget', 'emostream-face')]).status, 0);
    scale('emostream-face', 1);
    await waitFor('face back to 1 pod', () => podsOf('face').filter((p) => !p.metadata.deletionTimestamp).length === 1, {
      timeoutMs: 90_000,
      processes: cluster.processes,
    });
  });
});

describe('KEDA with the shipped ScaledObjects on real Kafka lag (SASL_SSL listener of the test broker)', () => {
  let kafka;
  let admin;
  let producer;
  // The frames topic gets fewer partitions than face's maxReplicaCount (12), so that the partition
  // cap and the replica cap give different counts; the other topics as in base/topics.yaml.
  const FRAMES_PARTITIONS = 8;
  const topicPartitions = {};
  // Counterparts, beside the shipped ScaledObjects on the same lag: each changes one setting and
  // scales a Deployment of its own (pods that only occupy kwok nodes).
  // `replicas`: what the backlog below must scale it to; `ready: false`: KEDA must refuse it.
  const counterparts = [
    {
      name: 'face-idle-consumers',
      of: 'emostream-face',
      change: (so) => (so.spec.triggers[0].metadata.allowIdleConsumers = 'true'),
      replicas: 12,
    },
    { name: 'backbone-no-max', of: 'emostream-backbone', change: (so) => delete so.spec.maxReplicaCount, replicas: 6 },
    // KEDA's default lagThreshold 10: 600 / 10 asks for 60, capped at maxReplicaCount 6.
    {
      name: 'temporal-default-threshold',
      of: 'emostream-temporal',
      change: (so) => delete so.spec.triggers[0].metadata.lagThreshold,
      replicas: 6,
    },
    // READY True comes from the Secrets and the name: a wrong password, or the bare Service name
    // the base had (KEDA's operator resolves it in its own namespace, where there is no such Service).
    {
      name: 'face-wrong-password',
      of: 'emostream-face',
      change: (so) => (so.spec.triggers[0].authenticationRef.name = 'emostream-kafka-wrong-password'),
      objects: () => {
        const auth = structuredClone(shipped('TriggerAuthentication', 'emostream-kafka'));
        auth.metadata = { name: 'emostream-kafka-wrong-password', namespace: GPU_NS };
        for (const ref of auth.spec.secretTargetRef) if (ref.parameter !== 'ca') ref.name = 'emostream-kafka-keda-wrong-password';
        return [
          auth,
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'emostream-kafka-keda-wrong-password', namespace: GPU_NS },
            stringData: { username: kafkaCa.kedaUser.username, password: 'not-the-password' },
          },
        ];
      },
      ready: false,
      replicas: 1,
    },
    // Lag reading needs the KEDA user's ACLs: a user without any does not scale.
    {
      name: 'face-without-acls',
      of: 'emostream-face',
      change: (so) => (so.spec.triggers[0].authenticationRef.name = 'emostream-kafka-without-acls'),
      objects: () => {
        const auth = structuredClone(shipped('TriggerAuthentication', 'emostream-kafka'));
        auth.metadata = { name: 'emostream-kafka-without-acls', namespace: GPU_NS };
        for (const ref of auth.spec.secretTargetRef) if (ref.parameter !== 'ca') ref.name = 'emostream-kafka-keda-without-acls';
        return [
          auth,
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'emostream-kafka-keda-without-acls', namespace: GPU_NS },
            stringData: { username: kafkaCa.userWithoutAcls.username, password: kafkaCa.userWithoutAcls.password },
          },
        ];
      },
      ready: false,
      replicas: 1,
    },
    {
      name: 'face-bare-bootstrap',
      of: 'emostream-face',
      change: (so) => (so.spec.triggers[0].metadata.bootstrapServers = `${kafkaCa.host.split('.')[0]}:${kafkaCa.port}`),
      ready: false,
      replicas: 1,
    },
  ];

  before(async () => {
    kafka = new Kafka({ clientId: 'k8s-test', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    producer = kafka.producer();
    await admin.connect();
    await producer.connect();
    for (const o of gpuObjects().filter((x) => x.kind === 'KafkaTopic')) topicPartitions[o.spec.topicName] = o.spec.partitions;
    assert.equal(topicPartitions['emostream.frames.v1'], 12, 'base/topics.yaml: frames partitions');
    topicPartitions['emostream.frames.v1'] = FRAMES_PARTITIONS;
    const inputs = ['emostream.frames.v1', 'emostream.faces.v1', 'emostream.embeddings.v1', 'emostream.emotions.v1'];
    await admin.createTopics({
      topics: inputs.map((topic) => ({ topic, numPartitions: topicPartitions[topic], replicationFactor: 1 })),
      waitForLeaders: true,
    });
    // The KEDA user's ACLs as the dev overlay's KafkaUser emostream-keda declares them (the ACLs
    // docs/operations.md lists for every Kafka).
    const kedaUser = docs(renderOverlay(path.join(OVERLAYS, 'dev'))).find(
      (o) => o.kind === 'KafkaUser' && o.metadata.name === 'emostream-keda',
    );
    assert.ok(kedaUser, 'the dev overlay has no KafkaUser emostream-keda');
    const acl = kedaUser.spec.authorization.acls.flatMap(({ resource, operations }) =>
      operations.map((operation) => ({
        resourceType: AclResourceTypes[resource.type.toUpperCase()],
        resourceName: resource.name,
        resourcePatternType: ResourcePatternTypes[{ literal: 'LITERAL', prefix: 'PREFIXED' }[resource.patternType ?? 'literal']],
        principal: `User:${kafkaCa.kedaUser.username}`,
        host: '*',
        operation: AclOperationTypes[operation.toUpperCase()],
        permissionType: AclPermissionTypes.ALLOW,
      })),
    );
    for (const a of acl)
      assert.ok(a.resourceType && a.resourcePatternType && a.operation, `an ACL the test cannot map: ${JSON.stringify(a)}`);
    await admin.createAcls({ acl });
    const extra = [];
    for (const c of counterparts) {
      const so = structuredClone(shipped('ScaledObject', c.of));
      so.metadata = { name: `emostream-${c.name}`, namespace: GPU_NS };
      so.spec.scaleTargetRef.name = `emostream-${c.name}`;
      c.change(so);
      extra.push(...(c.objects?.() ?? []), so, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: `emostream-${c.name}`, namespace: GPU_NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { 'app.kubernetes.io/component': c.name } },
          template: {
            metadata: { labels: { 'app.kubernetes.io/component': c.name } },
            spec: {
              containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10.1', resources: { requests: { cpu: '10m', memory: '16Mi' } } }],
            },
          },
        },
      });
    }
    assert.equal(kubectlWith(USER_APPLY, extra).status, 0);
    // The shipped ScaledObjects are already there (the gpu overlay, applied above) and untouched.
    await startKeda(cluster, { hosts: { [kafkaCa.host]: kafkaCa.ip } });
  });

  after(async () => {
    await producer?.disconnect();
    await admin?.disconnect();
  });

  it('every ScaledObject READY; a backlog scales face to its partitions, backbone to its maxReplicaCount, temporal to lag / lagThreshold', async (t) => {
    const scaledObjects = json(['get', 'scaledobjects', '-n', GPU_NS]).items;
    assert.equal(scaledObjects.length, 4 + counterparts.length);
    for (const so of gpuObjects().filter((o) => o.kind === 'ScaledObject')) {
      const stored = scaledObjects.find((s) => s.metadata.name === so.metadata.name);
      // (KEDA's operator adds an empty `advanced.scalingModifiers` once it has reconciled the object.)
      const { scalingModifiers = {}, ...advanced } = stored.spec.advanced;
      assert.deepEqual(scalingModifiers, {}, `${so.metadata.name}: scalingModifiers`);
      assert.deepEqual({ ...stored.spec, advanced }, so.spec, `${so.metadata.name} as shipped`);
    }
    const ready = (so) => so.status?.conditions?.find((c) => c.type === 'Ready');
    const refused = new Set(counterparts.filter((c) => c.ready === false).map((c) => `emostream-${c.name}`));
    const readyAsExpected = (so) => ready(so)?.status === (refused.has(so.metadata.name) ? 'False' : 'True');
    try {
      await waitFor(
        `every ScaledObject READY True but ${[...refused]} (READY False)`,
        () => json(['get', 'scaledobjects', '-n', GPU_NS]).items.every(readyAsExpected),
        { timeoutMs: 90_000, intervalMs: 1000, processes: cluster.processes },
      );
      for (const so of json(['get', 'scaledobjects', '-n', GPU_NS]).items.filter((x) => refused.has(x.metadata.name)))
        t.diagnostic(`${so.metadata.name}: READY ${ready(so)?.status}: ${ready(so)?.message}`);
    } catch (err) {
      const states = json(['get', 'scaledobjects', '-n', GPU_NS]).items.map((so) => `${so.metadata.name}: ${JSON.stringify(ready(so))}`);
      throw new Error(`${err.message}\n${states.join('\n')}`, { cause: err });
    }
    const hpaNames = () => new Set(json(['get', 'hpa', '-n', GPU_NS]).items.map((h) => h.metadata.name));
    const scaling = scaledObjects.map((so) => so.metadata.name).filter((n) => !refused.has(n));
    await waitFor("KEDA's HPAs", () => scaling.every((n) => hpaNames().has(`keda-hpa-${n}`)), {
      timeoutMs: 60_000,
      processes: cluster.processes,
    });
    // KEDA put the shipped scale-down behaviour on the HPAs (the test does not wait it out).
    for (const name of ['emostream-face', 'emostream-backbone']) {
      const hpa = json(['get', 'hpa', `keda-hpa-${name}`, '-n', GPU_NS]);
      const want = shipped('ScaledObject', name).spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown;
      assert.equal(
        hpa.spec.behavior.scaleDown.stabilizationWindowSeconds,
        want.stabilizationWindowSeconds,
        `${name}: HPA scale-down window`,
      );
      assert.deepEqual(hpa.spec.behavior.scaleDown.policies, want.policies, `${name}: HPA scale-down policies`);
    }
    for (const name of ['emostream-face', 'emostream-backbone', 'emostream-temporal', 'emostream-sink']) assert.equal(replicas(name), 1);

    // face: lagThreshold 20; 50 records on each of 8 partitions (lag 400) asks for 20 replicas:
    //   the partition cap gives 8 (allowIdleConsumers "false"), its counterpart the replica cap 12.
    // backbone: lagThreshold 200; 100 records on each of 12 partitions (lag 1200) asks for 6:
    //   maxReplicaCount gives 4, its counterpart (KEDA's default maximum, 100) 6.
    // temporal: lagThreshold 200; 50 on each of 12 partitions (lag 600): 3. sink: no lag, stays 1.
    const records = (n) => Array.from({ length: n }, (_, i) => ({ key: `cam-${i % 97}`, value: `record-${i}` }));
    const backlog = { 'emostream.frames.v1': 50, 'emostream.faces.v1': 100, 'emostream.embeddings.v1': 50 };
    for (const [topic, perPartition] of Object.entries(backlog)) {
      for (let p = 0; p < topicPartitions[topic]; p += 1) {
        await producer.send({ topic, messages: records(perPartition).map((m) => ({ ...m, partition: p })) });
      }
    }
    const want = {
      'emostream-face': FRAMES_PARTITIONS,
      'emostream-backbone': 4,
      'emostream-temporal': 3,
      'emostream-sink': 1,
      ...Object.fromEntries(counterparts.map((c) => [`emostream-${c.name}`, c.replicas])),
    };
    const seen = Object.fromEntries(Object.keys(want).map((n) => [n, []]));
    const sample = () => {
      const now = Object.fromEntries(json(['get', 'deployments', '-n', GPU_NS]).items.map((d) => [d.metadata.name, d.spec.replicas]));
      for (const n of Object.keys(want)) seen[n].push(now[n]);
    };
    const show = () => Object.entries(seen).map(([n, s]) => `${n} ${s.join(' ')}`);
    try {
      await waitFor(
        `replicas ${JSON.stringify(want)}`,
        () => {
          sample();
          return Object.entries(want).every(([n, count]) => seen[n].at(-1) === count);
        },
        { timeoutMs: 180_000, intervalMs: 2000, processes: cluster.processes },
      );
    } catch (err) {
      throw new Error(`${err.message}\nreplicas every 2 s:\n${show().join('\n')}`, { cause: err });
    }
    // Hold a while (several HPA syncs): the counts stay at their caps.
    for (let i = 0; i < 5; i += 1) {
      await sleep(2000);
      sample();
    }
    t.diagnostic(`replicas every 2 s after the backlog: ${show().join('; ')}`);
    for (const [n, count] of Object.entries(want)) assert.equal(Math.max(...seen[n]), count, `${n}: ${seen[n]}`);
    await waitShowingPods(`${FRAMES_PARTITIONS} face pods running`, () => runningOn(podsOf('face')).length === FRAMES_PARTITIONS);
    for (const pod of runningOn(podsOf('backbone'))) assert.ok(isGpuNode(pod.spec.nodeName), `backbone pod on ${pod.spec.nodeName}`);

    // The stages' groups read the backlog and commit (consumers that join the groups, as the stages
    // would; no offsets moved by hand), and KEDA's lag metric falls to 0 on the HPAs.
    const lagOnHpa = (name) =>
      json(['get', 'hpa', `keda-hpa-${name}`, '-n', GPU_NS]).status?.currentMetrics?.[0]?.external?.current?.averageValue;
    const lagged = ['emostream-face', 'emostream-backbone', 'emostream-temporal'];
    const underBacklog = lagged.map((n) => `${n} ${lagOnHpa(n)}`);
    for (const n of lagged) assert.notEqual(lagOnHpa(n) ?? '0', '0', `${n}: lag on its HPA under backlog`);
    const consumers = [];
    for (const [topic, perPartition] of Object.entries(backlog)) {
      const groupId =
        { 'emostream.frames.v1': 'emostream.face', 'emostream.faces.v1': 'emostream.backbone' }[topic] ?? 'emostream.temporal';
      const consumer = kafka.consumer({ groupId });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      let read = 0;
      const total = perPartition * topicPartitions[topic];
      const done = new Promise((resolve) => {
        void consumer.run({
          eachMessage: async () => {
            read += 1;
            if (read === total) resolve();
          },
        });
      });
      await done;
    }
    for (const consumer of consumers) await consumer.disconnect(); // commits what was read
    const caughtUp = Date.now();
    await waitFor('KEDA reporting no lag for face, backbone and temporal', () => lagged.every((n) => lagOnHpa(n) === '0'), {
      timeoutMs: 60_000,
      intervalMs: 1000,
      processes: cluster.processes,
    });
    t.diagnostic(
      `lag per replica on the HPAs under backlog: ${underBacklog.join(', ')}; lag 0 on all three ${Math.round((Date.now() - caughtUp) / 1000)} s after the groups caught up; face still at ${replicas('emostream-face')} replicas (shipped scale-down: 300 s window, then 1 pod per 120 s)`,
    );
  });
});
