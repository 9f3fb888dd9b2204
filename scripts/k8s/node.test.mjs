// `npm run test:k8s:node`: one real node (containerd + runc + a kubelet built from the Go module
// proxy, scripts/k8s/node.mjs) joined to the local control plane beside kwok nodes.
//  1. The dev overlay's sink stage from the CPU image, Ready through the kubelet's own readiness
//     probe on /readyz — unready while the broker is away, Ready again once it is back; then on the
//     pod network (its own network namespace and address on the node's bridge).
//  2. The whole dev overlay on the node: the five stages Ready by their real probes, against the
//     test broker standing in for the overlay's Strimzi cluster (TLS + SCRAM-SHA-512 on the
//     bootstrap name the manifests give: scripts/k8s/node-stages.mjs); streams added from inside
//     the cluster with `kubectl exec deploy/emostream-ingest -- emo streams add` (docs/operations.md)
//     reach the events topic, every event schema-valid; `kubectl rollout restart` of face while
//     streams flow loses and repeats nothing (counted against an undisturbed run of the same
//     clips); KEDA scales face on the real lag of its consumer group with the shipped ScaledObjects.
//  3. The overlay's NetworkPolicies enforced by kube-router (scripts/k8s/policy.mjs): ops ports only
//     for Prometheus, no link-local egress for ingest (last: the stages' broker is not a Strimzi pod,
//     so the policies cut them off from it).
// Starts its own broker (scripts/kafka/kafka.mjs, with the second listener). Needs root (it changes
// the machine: a bridge, cgroups, kernel settings it restores); `npm run test:k8s` runs it after the
// control-plane test.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import kafkajs from 'kafkajs';
import { startKafka } from '../kafka/kafka.mjs';
import { freePorts } from '../lib/ports.mjs';
import { cacheDir, KUBE_ROUTER_VERSION } from './build.mjs';
import { applyArgs, DEFAULT_NODES, startCluster, waitFor } from './cluster.mjs';
import { installCrds, renderOverlay } from './crds.mjs';
import { startKeda } from './keda.mjs';
import { startPolicyAgent } from './policy.mjs';
import { APP_IMAGE, NODE_IP, NODE_LABEL, NODE_NAME, NODE_TAINT, POD_SUBNET, relay, relayBroker, runSinkPod, startNode } from './node.mjs';
import {
  bootstrapOf,
  clusterCaSecret,
  CPU_REQUEST_DIVISOR,
  createTopicsOf,
  kafkaUsersOf,
  makeKafkaTls,
  objectsOf,
  realNodeKustomization,
  STAGES,
} from './node-stages.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const OVERLAY = path.join(ROOT, 'deploy', 'k8s', 'overlays', 'dev');
const MEDIA = path.join(ROOT, 'test', 'media', 'labelled');
const CLIPS = fs
  .readdirSync(MEDIA)
  .filter((f) => f.endsWith('.flv'))
  .sort();
/** Streams of the disturbed run (the clips over and over): enough to still flow while face rolls over. */
const RESTART_STREAMS = 12;
/** Streams added at once for KEDA: frames far beyond face's lagThreshold (20) before it catches up. */
const KEDA_STREAMS = 18;
/** At most this many waves (the k-th of k × KEDA_STREAMS), each after the last one's Job is done, until the HPA asks for more face pods. */
const KEDA_WAVES = 3;

const summary = [];
const note = (line) => {
  summary.push(line);
  console.log(line);
};

describe('a real kubelet node beside the kwok nodes', () => {
  const started = Date.now();
  const overlayObjects = objectsOf(renderOverlay(OVERLAY));
  const bootstrap = bootstrapOf(overlayObjects);
  const ns = bootstrap.namespace;
  const users = kafkaUsersOf(overlayObjects);
  const tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'emostream-node-kafka-'));
  let tls;
  let broker;
  let cluster;
  let node;
  let opsPort;
  let sinkNs;
  let bootstrapRelay;
  let kafka;
  let consumer;
  let keda;
  let rendered;
  let policyAgent;
  let linkLocal;
  /** Every event read from the events topic, with when it arrived. */
  const events = [];
  const kubectl = (args, opts) => cluster.kubectl(args, opts);
  const getJson = (args) => JSON.parse(kubectl([...args, '-o', 'json']).stdout);
  const readyOf = (name) => getJson(['get', 'pod', name, '-n', sinkNs]).status.conditions?.find((c) => c.type === 'Ready')?.status;
  const stagePods = (stage) =>
    getJson(['get', 'pods', '-n', ns, '-l', `app.kubernetes.io/component=${stage}`]).items.filter((p) => !p.metadata.deletionTimestamp);
  const isReady = (p) => p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

  before(async () => {
    tls = makeKafkaTls(tlsDir, bootstrap.host);
    broker = await startKafka({
      saslSsl: { advertised: `${bootstrap.host}:${bootstrap.port}`, keystore: tls.keystore, users },
    });
    cluster = await startCluster({ nodes: DEFAULT_NODES.slice(0, 2) });
    node = await startNode(cluster, { stateDir: path.join(cacheDir, 'node-test') });
  });
  after(async () => {
    await policyAgent?.stop();
    await new Promise((r) => (linkLocal ? linkLocal.close(r) : r()));
    await consumer?.disconnect();
    await bootstrapRelay?.close();
    await node?.stop();
    await cluster?.stop();
    await broker?.stop();
    fs.rmSync(tlsDir, { recursive: true, force: true });
    console.log(`\n=== summary (${((Date.now() - started) / 1000).toFixed(0)} s) ===\n${summary.join('\n')}`);
  });

  it('registers as a real node: kubelet v1.34.0 on containerd, Ready, beside the kwok nodes', () => {
    const nodes = getJson(['get', 'nodes']).items;
    const real = nodes.find((n) => n.metadata.name === NODE_NAME);
    assert.ok(real, 'the real node is registered');
    assert.equal(real.status.nodeInfo.kubeletVersion, 'v1.34.0');
    assert.match(real.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\./);
    assert.equal(real.metadata.annotations?.['kwok.x-k8s.io/node'], undefined, 'not a kwok node');
    assert.ok(real.status.addresses.some((a) => a.type === 'InternalIP' && a.address === NODE_IP));
    assert.equal(nodes.filter((n) => n.metadata.annotations?.['kwok.x-k8s.io/node'] === 'fake').length, 2);
    note(
      `node ${NODE_NAME}: kubelet ${real.status.nodeInfo.kubeletVersion}, ${real.status.nodeInfo.containerRuntimeVersion}, ${real.status.capacity.cpu} CPUs`,
    );
  });

  it("runs the dev overlay's sink stage from the CPU image, Ready through its readiness probe on /readyz", async () => {
    [opsPort] = await freePorts(1);
    const { pod, ns: namespace, summary: line } = await runSinkPod(cluster, { brokers: broker.brokers, opsPort, applyArgs });
    sinkNs = namespace;
    console.log(line);
    const [status] = pod.status.containerStatuses;
    assert.ok(status.containerID.startsWith('containerd://'));
    assert.equal(status.ready, true);
    // The kubelet's probe marked it Ready after the container started, not at creation.
    const ready = pod.status.conditions.find((c) => c.type === 'Ready');
    assert.ok(Date.parse(ready.lastTransitionTime) >= Date.parse(status.state.running.startedAt));
    const res = await fetch(`http://${NODE_IP}:${opsPort}/readyz`);
    assert.equal(res.status, 200);
  });

  it('goes unready while the broker is away and Ready again once it is back (the probe, live)', async () => {
    const name = getJson(['get', 'pods', '-n', sinkNs]).items[0].metadata.name;
    await broker.kill();
    try {
      // busUnreachableMs (15 s) + failureThreshold 2 × periodSeconds 5.
      await waitFor('the sink pod NotReady with the broker away', () => readyOf(name) === 'False', {
        timeoutMs: 90_000,
        intervalMs: 1_000,
      });
    } finally {
      await broker.restart();
    }
    await waitFor('the sink pod Ready again', () => readyOf(name) === 'True', { timeoutMs: 120_000, intervalMs: 1_000 });
    const restarts = getJson(['get', 'pod', name, '-n', sinkNs]).status.containerStatuses[0].restartCount;
    assert.equal(restarts, 0, 'readiness, not liveness: the container was not restarted');
    note('sink (hostNetwork): Ready by its probe, NotReady with the broker killed, Ready again, 0 restarts');
    kubectl(['delete', 'namespace', sinkNs, '--wait=false']);
  });

  it('runs it on the pod network too: its own address on the bridge, probed there on 9400 as in the manifests', async () => {
    const brokerRelay = await relayBroker(broker.brokers);
    try {
      const {
        pod,
        ns: podNs,
        summary: line,
      } = await runSinkPod(cluster, { brokers: broker.brokers, opsPort: 9400, applyArgs, network: 'pod' });
      console.log(line);
      const ip = pod.status.podIP;
      assert.ok(ip.startsWith(POD_SUBNET.replace(/0\/24$/, '')) && ip !== NODE_IP, `a pod address on the bridge: ${ip}`);
      assert.equal(pod.spec.hostNetwork, undefined);
      assert.equal((await fetch(`http://${ip}:9400/readyz`)).status, 200);
      assert.equal(pod.status.containerStatuses[0].restartCount, 0);
      // Its CPU goes to the five stages next.
      kubectl(['delete', 'namespace', podNs, '--wait=false']);
    } finally {
      await brokerRelay.close();
    }
  });

  it('runs the five stages of the dev overlay on the node from the CPU image, each Ready by its own probes', async () => {
    // What Strimzi would provide (scripts/k8s/node-stages.mjs): the CRDs so that the whole overlay
    // applies, the topics of its KafkaTopics, the cluster CA Secret, the bootstrap address.
    await installCrds(cluster);
    kafka = new kafkajs.Kafka({ clientId: 'node-test', brokers: [broker.brokers], logLevel: kafkajs.logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = await createTopicsOf(overlayObjects, admin);
    await admin.disconnect();
    bootstrapRelay = await relay({ listenHost: NODE_IP, listenPort: bootstrap.port, targetPort: broker.saslSslPort });
    const { dir, printed } = realNodeKustomization({
      overlayDir: OVERLAY,
      dir: path.join(cacheDir, 'node-test-overlay'),
      objects: overlayObjects,
      mediaDir: MEDIA,
    });
    console.log(`--- the kustomization applied (the dev overlay plus these patches) ---\n${printed}`);
    rendered = objectsOf(renderOverlay(dir));
    // The Namespace first: the Secret below and every object of the overlay live in it.
    const applied = Date.now();
    kubectl(applyArgs(), {
      input: [...rendered, clusterCaSecret(ns, tls.caFile)].map((o) => JSON.stringify(o)).join('\n---\n'),
    });
    note(
      `applied the dev overlay (${rendered.length} objects) + Secret emostream-kafka-cluster-ca-cert; ${topics.length} topics made from its KafkaTopics; ` +
        `CPU requests / ${CPU_REQUEST_DIVISOR}, limits as shipped`,
    );

    const readyAt = {};
    await waitFor(
      'the five stages Ready on the real node',
      () => {
        for (const stage of STAGES) {
          if (readyAt[stage]) continue;
          const want = getJson(['get', 'deployment', `emostream-${stage}`, '-n', ns]).spec.replicas ?? 1;
          const pods = stagePods(stage).filter((p) => p.spec.nodeName === NODE_NAME && isReady(p));
          if (pods.length >= want) readyAt[stage] = Date.now();
        }
        return STAGES.every((s) => readyAt[s]);
      },
      {
        timeoutMs: 300_000,
        intervalMs: 2_000,
        processes: node.processes,
      },
    ).catch((err) => {
      err.message += `\n${kubectl(['get', 'pods', '-n', ns, '-o', 'wide'], { check: false }).stdout}\n${kubectl(['describe', 'pods', '-n', ns], { check: false }).stdout.split('\n').slice(-60).join('\n')}`;
      throw err;
    });
    for (const stage of STAGES) {
      for (const pod of stagePods(stage)) {
        const [c] = pod.status.containerStatuses;
        assert.equal(pod.spec.nodeName, NODE_NAME);
        assert.equal(c.image.replace(/^docker\.io\//, ''), 'localhost/emostream:test');
        assert.ok(c.containerID.startsWith('containerd://'));
        assert.ok(pod.status.podIP.startsWith('10.244.99.') && pod.status.podIP !== NODE_IP);
        // Ready because the kubelet's probe passed after the container started.
        const ready = pod.status.conditions.find((x) => x.type === 'Ready');
        assert.ok(Date.parse(ready.lastTransitionTime) >= Date.parse(c.state.running.startedAt), `${pod.metadata.name}: Ready after start`);
        assert.equal((await fetch(`http://${pod.status.podIP}:9400/readyz`)).status, 200, `${pod.metadata.name} /readyz`);
        assert.match(await (await fetch(`http://${pod.status.podIP}:9400/metrics`)).text(), /^emostream_/m);
      }
      note(`${stage}: ${stagePods(stage).length} pod(s) Ready ${((readyAt[stage] - applied) / 1000).toFixed(0)} s after apply`);
    }
  });

  const admin = users.find((u) => u.secret === 'emostream-kafka-admin');
  const addOne = ({ id, clip }) => `emo streams add ${id} /media/${clip}`;
  /**
   * Adds streams the way docs/operations.md says: `kubectl exec deploy/emostream-ingest -- env
   * <admin user> emo streams add …`, one after another (each is a Node process of its own, a few
   * seconds here). Resolves when the last is added: the test goes on meanwhile.
   */
  const addStreams = (specs) => {
    assert.ok(admin, 'the overlay has the Secret emostream-kafka-admin');
    const args = ['exec', '-n', ns, 'deploy/emostream-ingest', '--', 'env', `KAFKA_SASL_USERNAME=${admin.username}`];
    args.push(`KAFKA_SASL_PASSWORD=${admin.password}`, 'sh', '-c', specs.map(addOne).join(' && '));
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(cluster.bin, 'kubectl'), [`--kubeconfig=${cluster.kubeconfig}`, ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`kubectl exec … emo streams add failed (exit ${code}):\n${out}`)),
      );
    });
  };
  /**
   * Adds many streams at once, 10 `emo` processes at a time: that many would not fit in ingest's
   * 1 GiB (30 at once in its pod: exit 137), so they run in a Job of their own, its pod ingest's
   * (same env, Kafka Secret of the admin user, CA, hostAliases, media, security context) with room
   * for them (4 GiB).
   */
  const addStreamsInJob = (name, specs) => {
    const deployment = rendered.find((o) => o.kind === 'Deployment' && o.metadata.name === 'emostream-ingest');
    const template = structuredClone(deployment.spec.template);
    const [c] = template.spec.containers;
    template.spec.restartPolicy = 'Never';
    c.name = 'streams-add';
    for (const e of c.env) if (e.valueFrom?.secretKeyRef) e.valueFrom.secretKeyRef.name = admin.secret;
    for (const key of ['startupProbe', 'livenessProbe', 'readinessProbe', 'ports']) delete c[key];
    c.resources = { requests: { cpu: '100m', memory: '1Gi' }, limits: { memory: '4Gi' } };
    c.command = [
      'sh',
      '-c',
      `printf '%s\\n' ${specs.map((x) => `'${x.id} /media/${x.clip}'`).join(' ')} | xargs -P 10 -L 1 emo streams add`,
    ];
    delete c.args;
    template.metadata.labels = { 'app.kubernetes.io/name': 'emostream-test', job: name };
    const job = { apiVersion: 'batch/v1', kind: 'Job', metadata: { name, namespace: ns }, spec: { backoffLimit: 0, template } };
    kubectl(applyArgs(), { input: JSON.stringify(job) });
    return waitFor(
      `Job ${name} (emo streams add × ${specs.length}) complete`,
      () => {
        const st = getJson(['get', 'job', name, '-n', ns]).status;
        if (st.failed) throw new Error(`Job ${name} failed:\n${kubectl(['logs', '-n', ns, `job/${name}`], { check: false }).stdout}`);
        return st.succeeded === 1;
      },
      { timeoutMs: 240_000, intervalMs: 2_000 },
    );
  };
  const faceKey = (e) =>
    e.schema === 'emostream.event.face.v2'
      ? `face seq ${e.seq} track ${e.trackId}`
      : `summary track ${e.trackId} ${e.firstSeq}-${e.lastSeq} frames ${e.frames}`;
  const clipOf = (streamId) => streamId.replace(/^[a-z]+\d*-/, '');
  /** Per stream: key -> how many times it arrived. */
  const countsOf = (prefix) => {
    const byStream = new Map();
    for (const { event } of events.filter((x) => x.event.streamId.startsWith(prefix))) {
      const m = byStream.get(event.streamId) ?? new Map();
      m.set(faceKey(event), (m.get(faceKey(event)) ?? 0) + 1);
      byStream.set(event.streamId, m);
    }
    return byStream;
  };
  const reference = new Map(); // clip -> Map(key -> count) of the undisturbed run

  it('a stream added from inside the cluster (kubectl exec … emo streams add) reaches the events topic, every event schema-valid', async () => {
    consumer = kafka.consumer({ groupId: `node-test-reader-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: 'emostream.events.v2', fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        events.push({ at: Date.now(), event: JSON.parse(message.value.toString('utf8')) });
      },
    });
    const t0 = Date.now();
    const out = await addStreams(CLIPS.map((clip) => ({ id: `ref-${clip.replace(/\.flv$/, '')}`, clip })));
    console.log(out.trim());
    const summaries = () =>
      new Set(events.filter((e) => e.event.schema === 'emostream.event.track_summary.v2').map((e) => e.event.streamId));
    await waitFor(
      `a track summary for each of the ${CLIPS.length} reference streams`,
      () => CLIPS.every((c) => summaries().has(`ref-${c.replace(/\.flv$/, '')}`)),
      {
        timeoutMs: 240_000,
        intervalMs: 1_000,
      },
    );
    // Late duplicates would still come in: give them a moment before counting.
    await new Promise((r) => setTimeout(r, 5_000));
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(JSON.parse(fs.readFileSync(path.join(ROOT, 'libs/shared/schemas/emotion-event.v2.schema.json'), 'utf8')));
    for (const { event } of events)
      assert.ok(validate(event), `schema-valid: ${JSON.stringify(event)}: ${ajv.errorsText(validate.errors)}`);
    for (const [streamId, counts] of countsOf('ref-')) {
      for (const [key, n] of counts) assert.equal(n, 1, `${streamId}: ${key} arrived ${n} times in the undisturbed run`);
      reference.set(`${streamId.slice(4)}.flv`, counts);
    }
    const faces = events.filter((e) => e.event.schema === 'emostream.event.face.v2').length;
    note(
      `reference run: ${CLIPS.length} streams added in-cluster, ${events.length} events (${faces} face) in ${((Date.now() - t0) / 1000).toFixed(0)} s, all schema-valid`,
    );
  });

  it('kubectl rollout restart deployment/emostream-face while streams flow loses and repeats nothing', async () => {
    const runtime = overlayObjects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'emostream-runtime');
    const delivery = runtime.data.EMOSTREAM_DELIVERY;
    const [oldFace] = stagePods('face');
    const specs = Array.from({ length: RESTART_STREAMS }, (_, i) => ({
      id: `rr${i}-${CLIPS[i % CLIPS.length].replace(/\.flv$/, '')}`,
      clip: CLIPS[i % CLIPS.length],
    }));
    // The streams go in one after another (a few seconds each): they keep coming while face rolls over.
    const adding = addStreams(specs);
    // Restarted once the old pod has handled the first two streams' worth of frames.
    await waitFor('20 events of the disturbed run', () => events.filter((e) => e.event.streamId.startsWith('rr')).length >= 20, {
      timeoutMs: 120_000,
      intervalMs: 500,
    });
    const restartedAt = Date.now();
    kubectl(['rollout', 'restart', '-n', ns, 'deployment/emostream-face']);
    let oldGoneAt;
    await waitFor(
      'the rollout of face done and the old face pod gone',
      () => {
        const pods = getJson(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/component=face']).items;
        if (!oldGoneAt && !pods.some((p) => p.metadata.name === oldFace.metadata.name)) oldGoneAt = Date.now();
        return oldGoneAt && pods.length === 1 && isReady(pods[0]);
      },
      { timeoutMs: 240_000, intervalMs: 1_000 },
    );
    await adding;
    const expected = (streamId) => reference.get(`${clipOf(streamId)}.flv`);
    const complete = () =>
      specs.every((s) => {
        const got = countsOf(`${s.id}`).get(s.id);
        return got && [...expected(s.id).keys()].every((k) => got.has(k));
      });
    await waitFor(`every event of the ${RESTART_STREAMS} streams (as many as the undisturbed run of the same clip)`, complete, {
      timeoutMs: 240_000,
      intervalMs: 1_000,
    }).catch((err) => {
      const missing = specs
        .map((s) => `${s.id}: ${[...expected(s.id).keys()].filter((k) => !countsOf(s.id).get(s.id)?.has(k)).length} missing`)
        .join(', ');
      err.message += `\n${missing}`;
      throw err;
    });
    await new Promise((r) => setTimeout(r, 5_000));
    const counts = countsOf('rr');
    let total = 0;
    for (const s of specs) {
      const got = counts.get(s.id);
      assert.deepEqual(
        [...got.keys()].sort(),
        [...expected(s.id).keys()].sort(),
        `${s.id}: the same events as the undisturbed run of ${s.clip}`,
      );
      for (const [key, n] of got) assert.equal(n, 1, `${s.id}: ${key} arrived ${n} times`);
      total += [...got.values()].reduce((a, b) => a + b, 0);
    }
    const before = events.filter((e) => e.event.streamId.startsWith('rr') && e.at < restartedAt).length;
    const afterOld = events.filter((e) => e.event.streamId.startsWith('rr') && e.at > oldGoneAt).length;
    // Mid-stream: events of the run came in before the restart and after the old pod was gone.
    assert.ok(before > 0 && afterOld > 0, `mid-stream: ${before} events before the restart, ${afterOld} after the old face pod was gone`);
    const [newFace] = stagePods('face');
    assert.notEqual(newFace.metadata.name, oldFace.metadata.name);
    note(
      `rollout restart of face (delivery ${delivery}): ${RESTART_STREAMS} streams, ${total} events = the undisturbed run's per clip, none lost, none repeated; ` +
        `${before} before the restart, ${afterOld} after the old pod (${oldFace.metadata.name}) was gone ${((oldGoneAt - restartedAt) / 1000).toFixed(0)} s later`,
    );
  });

  it('KEDA scales face on the real lag of its consumer group, with the ScaledObjects as shipped', async () => {
    keda = await startKeda(cluster, { hosts: { [bootstrap.host]: NODE_IP } });
    const scaledObjects = () => getJson(['get', 'scaledobjects', '-n', ns]).items;
    await waitFor(
      'every shipped ScaledObject READY True',
      () => scaledObjects().every((so) => so.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
      { timeoutMs: 120_000, intervalMs: 2_000, processes: [keda.operator, keda.adapter] },
    ).catch((err) => {
      err.message += `\n${kubectl(['get', 'scaledobjects', '-n', ns], { check: false }).stdout}`;
      throw err;
    });
    const face = scaledObjects().find((so) => so.metadata.name === 'emostream-face');
    assert.equal(face.spec.triggers[0].metadata.bootstrapServers, `${bootstrap.host}:${bootstrap.port}`);
    assert.equal(face.spec.triggers[0].metadata.tls, 'enable');
    assert.equal(face.spec.triggers[0].metadata.sasl, 'scram_sha512');
    const max = face.spec.maxReplicaCount;
    // The load starts once the HPA reads KEDA's metric (a new HPA's first read can take a sync period
    // or two): a burst before that would be lag that nothing was looking at.
    await waitFor(
      "face's HPA reading KEDA's lag metric",
      () => getJson(['get', 'hpa', '-n', ns, 'keda-hpa-emostream-face']).status?.currentMetrics?.[0]?.external?.current,
      { timeoutMs: 90_000, intervalMs: 2_000, processes: [keda.operator, keda.adapter] },
    );
    const t0 = Date.now();
    const s = (t) => `${((t - t0) / 1000).toFixed(0)} s`;
    // A wave of streams is a burst of lag that face drains in some seconds, and the HPA samples
    // KEDA's metric every 15 s: on a fast run one burst can fall between two samples. So while the
    // HPA has not asked for max, another wave starts when the last one's Job is done (at most
    // KEDA_WAVES): every wave is real lag on the shipped consumer group, none is simulated.
    let waves = 0;
    let addedAt;
    let waveRunning = false;
    let lastWave;
    let failWave;
    const waveFailed = new Promise((_, reject) => (failWave = reject));
    let streamsAdded = 0;
    const addWave = () => {
      const wave = waves++;
      // Each wave larger than the last (18, 36, 54 streams): a longer burst, harder to fall between two reads.
      const specs = Array.from({ length: KEDA_STREAMS * (wave + 1) }, (_, i) => {
        const clip = CLIPS[i % CLIPS.length];
        return { id: `keda${streamsAdded + i}-${clip.replace(/\.flv$/, '')}`, clip };
      });
      streamsAdded += specs.length;
      waveRunning = true;
      lastWave = addStreamsInJob(`keda-streams-${wave}`, specs).then(() => {
        addedAt = Date.now();
        waveRunning = false;
      });
      lastWave.catch(failWave);
    };
    addWave();
    let lagSeen = 0;
    let hpaMetricSeen = 0;
    let hpaScaledAt;
    let scaledReadyAt;
    const timeline = [];
    const lagNow = async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        const [offsets] = await admin.fetchOffsets({ groupId: 'emostream.face', topics: ['emostream.frames.v1'] });
        const ends = await admin.fetchTopicOffsets('emostream.frames.v1');
        return ends.reduce(
          (sum, p) => sum + Number(p.high) - Math.max(0, Number(offsets.partitions.find((x) => x.partition === p.partition)?.offset ?? 0)),
          0,
        );
      } finally {
        await admin.disconnect();
      }
    };
    await Promise.race([
      waveFailed,
      waitFor(
        `face scaled to ${max} replicas by KEDA's HPA, all Ready on the real node`,
        async () => {
          const lag = await lagNow();
          lagSeen = Math.max(lagSeen, lag);
          // What the HPA itself read through KEDA's external-metrics API (per-replica average lag).
          const st = getJson(['get', 'hpa', '-n', ns, 'keda-hpa-emostream-face']).status;
          const metric = st.currentMetrics?.[0]?.external?.current?.averageValue;
          if (metric)
            hpaMetricSeen = Math.max(hpaMetricSeen, Number(String(metric).replace(/m$/, '')) / (String(metric).endsWith('m') ? 1000 : 1));
          timeline.push(`${s(Date.now())}: wave ${waves}, lag ${lag}, HPA read ${metric ?? '-'}, desired ${st.desiredReplicas}`);
          if (!hpaScaledAt && st.desiredReplicas >= max) hpaScaledAt = Date.now();
          if (!hpaScaledAt && !waveRunning && waves < KEDA_WAVES) addWave();
          const pods = stagePods('face').filter((p) => p.spec.nodeName === NODE_NAME && isReady(p));
          if (pods.length >= max) scaledReadyAt = Date.now();
          return pods.length >= max;
        },
        { timeoutMs: 240_000, intervalMs: 2_000, processes: [keda.operator, keda.adapter] },
      ),
    ]).catch((err) => {
      err.message += `\nmax lag seen ${lagSeen}, the HPA read up to ${hpaMetricSeen}\n${timeline.join('\n')}\n${kubectl(['get', 'hpa', '-n', ns], { check: false }).stdout}\n${kubectl(['describe', 'hpa', '-n', ns, 'keda-hpa-emostream-face'], { check: false }).stdout}`;
      throw err;
    });
    await lastWave;
    const hpa = getJson(['get', 'hpa', '-n', ns, 'keda-hpa-emostream-face']);
    assert.equal(hpa.spec.scaleTargetRef.name, 'emostream-face');
    const threshold = Number(face.spec.triggers[0].metadata.lagThreshold);
    assert.ok(lagSeen > threshold, `the lag went over face's lagThreshold (${threshold}): ${lagSeen}`);
    assert.ok(hpaMetricSeen > threshold, `the HPA read a lag over the threshold through KEDA: ${hpaMetricSeen}`);
    note(
      `KEDA: 4 shipped ScaledObjects READY True (TLS + SCRAM to ${bootstrap.host}:${bootstrap.port}); ${waves} wave(s), ${streamsAdded} streams (last Job done at ${s(addedAt)}), ` +
        `lag up to ${lagSeen} frames (the HPA read up to ${hpaMetricSeen} per replica, target ${threshold}), desired ${max} at ${s(hpaScaledAt)}, ` +
        `${max} face pods Ready on the real node at ${s(scaledReadyAt)} (HPA ${hpa.metadata.name})`,
    );
  });

  /** What a connection from a pod's network namespace to host:port gets: CONNECTED, or the error (kubectl exec + node). */
  const connectFrom = (podNs, pod, host, port) => {
    const script = `const s=require('net').connect(${port},'${host}');s.setTimeout(3000);s.on('connect',()=>{console.log('CONNECTED');process.exit(0)});s.on('timeout',()=>{console.log('TIMEOUT');process.exit(0)});s.on('error',(e)=>{console.log(e.code);process.exit(0)})`;
    return kubectl(['exec', '-n', podNs, pod, '--', 'node', '-e', script]).stdout.trim();
  };

  it("enforces the overlay's NetworkPolicies with kube-router: ops ports only for Prometheus, no link-local egress for ingest", async () => {
    // A link-local address on the node (the bridge), with a listener: where cloud metadata would be.
    const LINK_LOCAL = '169.254.77.1';
    spawnSync('ip', ['addr', 'add', `${LINK_LOCAL}/32`, 'dev', 'emo-node0']);
    linkLocal = net.createServer((c) => c.end());
    await new Promise((resolve, reject) => linkLocal.once('error', reject).listen(0, LINK_LOCAL, resolve));
    const llPort = linkLocal.address().port;
    // A pod outside the allowed set (no emostream labels) and one inside it (Prometheus in monitoring).
    const onNode = {
      nodeSelector: { [NODE_LABEL.key]: NODE_LABEL.value },
      tolerations: [{ key: NODE_TAINT.key, operator: 'Equal', value: NODE_TAINT.value, effect: NODE_TAINT.effect }],
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 10001 },
      containers: [{ name: 'c', image: APP_IMAGE, imagePullPolicy: 'Never', command: ['node', '-e', 'setInterval(() => {}, 1e9)'] }],
    };
    const probes = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring' } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'np-outsider', namespace: ns }, spec: onNode },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'np-prometheus', namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } },
        spec: onNode,
      },
    ];
    kubectl(applyArgs(), { input: probes.map((o) => JSON.stringify(o)).join('\n---\n') });
    await waitFor(
      'the two probe pods running',
      () =>
        [
          ['np-outsider', ns],
          ['np-prometheus', 'monitoring'],
        ].every(([name, podNs]) => getJson(['get', 'pod', name, '-n', podNs]).status.phase === 'Running'),
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    const face = stagePods('face').find(isReady);
    const ingest = stagePods('ingest').find(isReady).metadata.name;
    const faceIp = face.status.podIP;
    // Not enforced yet (the policies are applied with the overlay, the bridge plugin ignores them).
    assert.equal(connectFrom(ns, 'np-outsider', faceIp, 9400), 'CONNECTED', 'without an agent the outsider reaches face:9400');
    assert.equal(connectFrom(ns, ingest, LINK_LOCAL, llPort), 'CONNECTED', 'without an agent ingest reaches the link-local address');

    policyAgent = await startPolicyAgent(cluster);
    await waitFor(
      'kube-router enforcing: the outsider refused at face:9400',
      () => connectFrom(ns, 'np-outsider', faceIp, 9400) !== 'CONNECTED',
      {
        timeoutMs: 60_000,
        intervalMs: 2_000,
        processes: [policyAgent.agent],
      },
    );
    const outsider = connectFrom(ns, 'np-outsider', faceIp, 9400);
    const prometheus = connectFrom('monitoring', 'np-prometheus', faceIp, 9400);
    const ingestLinkLocal = connectFrom(ns, ingest, LINK_LOCAL, llPort);
    const outsiderLinkLocal = connectFrom(ns, 'np-outsider', LINK_LOCAL, llPort);
    const faceToBroker = connectFrom(ns, face.metadata.name, NODE_IP, bootstrap.port);
    assert.notEqual(outsider, 'CONNECTED');
    assert.equal(prometheus, 'CONNECTED', 'Prometheus (namespace monitoring) still reaches the ops port');
    assert.notEqual(ingestLinkLocal, 'CONNECTED', "ingest's egress to link-local refused");
    assert.equal(outsiderLinkLocal, 'CONNECTED', 'a pod no policy selects still reaches it: the refusal is the policy');
    note(
      `NetworkPolicies (kube-router ${KUBE_ROUTER_VERSION}): outsider -> face:9400 ${outsider}, prometheus -> face:9400 ${prometheus}; ` +
        `ingest -> ${LINK_LOCAL} ${ingestLinkLocal}, outsider -> ${LINK_LOCAL} ${outsiderLinkLocal}; face -> broker on the node ${faceToBroker} (not a Strimzi pod)`,
    );
  });
});

// Nothing of the node's is left on the machine after a run (checked by the next run's start too).
process.on('exit', () => {
  if (fs.existsSync('/sys/class/net/emo-node0')) console.error('warning: the bridge emo-node0 is still there');
});
