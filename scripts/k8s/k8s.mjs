#!/usr/bin/env node
// A local Kubernetes control plane for trying the manifests, without containers (like
// scripts/kafka/kafka.mjs for the broker):
//
//   node scripts/k8s/k8s.mjs build    build the programs once into .cache/k8s (Go module proxy)
//   node scripts/k8s/k8s.mjs start    etcd + kube-apiserver + controller-manager + scheduler + kwok
//                                     with CPU and GPU nodes, the CRDs every overlay needs; runs
//                                     until Ctrl-C / SIGTERM, then stops everything
//        [--keda]                     also KEDA's operator and metrics adapter (out of cluster)
//   node scripts/k8s/k8s.mjs stop     stops a `start` running elsewhere (its pid file)
//
// While it runs: export KUBECONFIG=.cache/k8s/state/kubeconfig, then e.g.
//   .cache/k8s/kubernetes-<v>/bin/kubectl apply --server-side --validate=strict -k deploy/k8s/overlays/gpu
// Pods are scheduled onto kwok's fake nodes and reported Running; no container is ever started.
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, ensureAll } from './build.mjs';
import { startCluster } from './cluster.mjs';
import { installCrds } from './crds.mjs';
import { startKeda } from './keda.mjs';

const STATE_DIR = path.join(cacheDir, 'state');
const PID_FILE = path.join(cacheDir, 'k8s.pid');

async function start(withKeda) {
  if (fs.existsSync(PID_FILE)) {
    const pid = Number(fs.readFileSync(PID_FILE, 'utf8'));
    try {
      process.kill(pid, 0);
      throw new Error(`a local cluster is already running (pid ${pid}); \`node scripts/k8s/k8s.mjs stop\` first`);
    } catch (err) {
      if (err.code !== 'ESRCH') throw err;
    }
  }
  ensureAll();
  console.error('» starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok');
  const cluster = await startCluster({ stateDir: STATE_DIR, keepState: true });
  fs.writeFileSync(PID_FILE, String(process.pid));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.error('» stopping the local cluster');
    await cluster.stop();
    fs.rmSync(PID_FILE, { force: true });
    process.exit(0);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stop);
  console.error('» installing the CRDs (Strimzi, KEDA, Prometheus Operator)');
  await installCrds(cluster);
  if (withKeda) {
    console.error('» starting KEDA (operator + metrics adapter)');
    await startKeda(cluster);
  }
  console.log(`API server: ${cluster.server}`);
  console.log(`export KUBECONFIG=${cluster.kubeconfig}`);
  console.log(`kubectl:    ${path.join(cluster.bin, 'kubectl')}`);
  console.log(`logs:       ${cluster.logDir}`);
  console.log('Ctrl-C (or `node scripts/k8s/k8s.mjs stop`) stops it.');
  // Any program of the control plane dying is fatal: say which, and stop the rest.
  for (const proc of cluster.processes) {
    proc.exit.then(async (how) => {
      if (stopping) return;
      console.error(`${proc.name} exited unexpectedly (${JSON.stringify(how)}); see ${proc.logFile}`);
      await stop();
    });
  }
}

function stopOther() {
  if (!fs.existsSync(PID_FILE)) {
    console.error('no local cluster is running (no .cache/k8s/k8s.pid)');
    return;
  }
  const pid = Number(fs.readFileSync(PID_FILE, 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
    console.error(`asked the local cluster (pid ${pid}) to stop`);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
    fs.rmSync(PID_FILE, { force: true });
    console.error('the local cluster was not running any more');
  }
}

const [command, ...rest] = process.argv.slice(2);
try {
  if (command === 'build') ensureAll();
  else if (command === 'start') await start(rest.includes('--keda'));
  else if (command === 'stop') stopOther();
  else {
    console.error('usage: node scripts/k8s/k8s.mjs build | start [--keda] | stop');
    process.exit(2);
  }
} catch (err) {
  console.error(`k8s: ${err.message}`);
  process.exit(1);
}
