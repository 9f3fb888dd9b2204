// `npm run test:k8s:node`: one real node (containerd + runc + a kubelet built from the Go module
// proxy, scripts/k8s/node.mjs) joined to the local control plane beside kwok nodes, running the
// dev overlay's sink stage from the CPU image, Ready through the kubelet's own readiness probe on
// /readyz — and unready again while the broker is away, Ready again once it is back; then once more
// on the pod network (its own network namespace and address on the node's bridge).
// Runs under scripts/with-kafka.mjs (KAFKA_BROKERS, KAFKA_CONTROL_URL). Needs root; not part of
// `npm run test:k8s` (it changes the machine: a bridge, cgroups, kernel settings it restores).
// What differs from the manifests, and why: see sinkObjects in scripts/k8s/node.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cacheDir } from './build.mjs';
import { applyArgs, DEFAULT_NODES, startCluster, waitFor } from './cluster.mjs';
import { NODE_IP, NODE_NAME, POD_SUBNET, relayBroker, runSinkPod, startNode } from './node.mjs';
import { freePorts } from '../lib/ports.mjs';

const brokers = process.env.KAFKA_BROKERS;
const control = process.env.KAFKA_CONTROL_URL;
if (!brokers || !control)
  throw new Error('KAFKA_BROKERS/KAFKA_CONTROL_URL not set: run this through scripts/with-kafka.mjs (npm run test:k8s:node)');

describe('a real kubelet node beside the kwok nodes', () => {
  let cluster;
  let node;
  let opsPort;
  let ns;
  const readyOf = (name) =>
    JSON.parse(cluster.kubectl(['get', 'pod', name, '-n', ns, '-o', 'json']).stdout).status.conditions?.find((c) => c.type === 'Ready')
      ?.status;

  before(async () => {
    cluster = await startCluster({ nodes: DEFAULT_NODES.slice(0, 2) });
    node = await startNode(cluster, { stateDir: path.join(cacheDir, 'node-test') });
  });
  after(async () => {
    await node?.stop();
    await cluster?.stop();
  });

  it('registers as a real node: kubelet v1.34.0 on containerd, Ready, beside the kwok nodes', () => {
    const nodes = JSON.parse(cluster.kubectl(['get', 'nodes', '-o', 'json']).stdout).items;
    const real = nodes.find((n) => n.metadata.name === NODE_NAME);
    assert.ok(real, 'the real node is registered');
    assert.equal(real.status.nodeInfo.kubeletVersion, 'v1.34.0');
    assert.match(real.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\/1\./);
    assert.equal(real.metadata.annotations?.['kwok.x-k8s.io/node'], undefined, 'not a kwok node');
    assert.ok(real.status.addresses.some((a) => a.type === 'InternalIP' && a.address === NODE_IP));
    assert.equal(nodes.filter((n) => n.metadata.annotations?.['kwok.x-k8s.io/node'] === 'fake').length, 2);
  });

  it("runs the dev overlay's sink stage from the CPU image, Ready through its readiness probe on /readyz", async () => {
    [opsPort] = await freePorts(1);
    const { pod, ns: namespace, summary } = await runSinkPod(cluster, { brokers, opsPort, applyArgs });
    ns = namespace;
    console.log(summary);
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
    const name = JSON.parse(cluster.kubectl(['get', 'pods', '-n', ns, '-o', 'json']).stdout).items[0].metadata.name;
    const r = await fetch(`${control}/kill`, { method: 'POST' });
    assert.equal(r.status, 200, await r.text());
    try {
      // busUnreachableMs (15 s) + failureThreshold 2 × periodSeconds 5.
      await waitFor('the sink pod NotReady with the broker away', () => readyOf(name) === 'False', {
        timeoutMs: 90_000,
        intervalMs: 1_000,
      });
    } finally {
      const back = await fetch(`${control}/restart`, { method: 'POST' });
      assert.equal(back.status, 200, await back.text());
    }
    await waitFor('the sink pod Ready again', () => readyOf(name) === 'True', { timeoutMs: 120_000, intervalMs: 1_000 });
    const restarts = JSON.parse(cluster.kubectl(['get', 'pod', name, '-n', ns, '-o', 'json']).stdout).status.containerStatuses[0]
      .restartCount;
    assert.equal(restarts, 0, 'readiness, not liveness: the container was not restarted');
  });

  it('runs it on the pod network too: its own address on the bridge, probed there on 9400 as in the manifests', async () => {
    const relay = await relayBroker(brokers);
    try {
      const { pod, summary } = await runSinkPod(cluster, { brokers, opsPort: 9400, applyArgs, network: 'pod' });
      console.log(summary);
      const ip = pod.status.podIP;
      assert.ok(ip.startsWith(POD_SUBNET.replace(/0\/24$/, '')) && ip !== NODE_IP, `a pod address on the bridge: ${ip}`);
      assert.equal(pod.spec.hostNetwork, undefined);
      assert.equal((await fetch(`http://${ip}:9400/readyz`)).status, 200);
      assert.equal(pod.status.containerStatuses[0].restartCount, 0);
    } finally {
      await relay.close();
    }
  });
});

// Nothing of the node's is left on the machine after a run (checked by the next run's start too).
process.on('exit', () => {
  if (fs.existsSync('/sys/class/net/emo-node0')) console.error('warning: the bridge emo-node0 is still there');
});
