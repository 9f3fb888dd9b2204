// A local Kubernetes control plane without containers, on loopback only: etcd, kube-apiserver
// (TLS, client-certificate authentication, Node,RBAC authorization, strict field validation on
// request), kube-controller-manager, kube-scheduler and kwok, whose fake nodes "run" the pods the
// scheduler binds to them (no kubelet, no container engine: no container is ever started).
//
// `await startCluster()` → { kubeconfig, server, stateDir, kubectl(args), stop() }.
// The CLI (scripts/k8s/k8s.mjs) wraps it; scripts/k8s/k8s.test.mjs uses it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePorts } from '../lib/ports.mjs';
import { ensureKubernetes, ensureKwok, kwokStages } from './build.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function openssl(args, cwd) {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error?.code === 'ENOENT')
    throw new Error('`openssl` is not installed (apt-get install openssl): it makes the cluster certificates');
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

/**
 * Writes a certificate signed by the CA in `dir` (ca.crt/ca.key): `<name>.crt`/`<name>.key`.
 * subject like '/CN=x/O=y'; sans like ['DNS:localhost', 'IP:127.0.0.1'] for server certificates.
 */
export function issueCert(dir, name, { subject, sans = [], ca = 'ca' }) {
  const ext = path.join(dir, `${name}.ext`);
  const usage = sans.length ? 'serverAuth,clientAuth' : 'clientAuth';
  fs.writeFileSync(
    ext,
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=${usage}\n` +
      (sans.length ? `subjectAltName=${sans.join(',')}\n` : ''),
  );
  openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '30',
      '-out',
      `${name}.crt`,
      '-extfile',
      ext,
    ],
    dir,
  );
}

export function makeCa(dir, name, cn) {
  openssl(
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '30', '-subj', `/CN=${cn}`],
    dir,
  );
}

/** Cluster CA, API server serving cert, admin client cert, front-proxy CA + client, service-account key pair. */
function makePki(dir) {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, 'ca', 'emostream-local-ca');
  issueCert(dir, 'apiserver', {
    subject: '/CN=kube-apiserver',
    sans: ['DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'IP:127.0.0.1', 'IP:10.96.0.1'],
  });
  // system:masters: the admin (kubectl, the controllers, kwok, KEDA all use it on this local cluster).
  issueCert(dir, 'admin', { subject: '/CN=emostream-admin/O=system:masters' });
  // The API server's identity towards kubelets (`kubectl exec`/`logs` on the real node of node.mjs).
  issueCert(dir, 'apiserver-kubelet-client', { subject: '/CN=kube-apiserver-kubelet-client/O=system:masters' });
  // The aggregator's identity towards extension API servers (KEDA's metrics adapter).
  makeCa(dir, 'front-proxy-ca', 'emostream-front-proxy-ca');
  issueCert(dir, 'front-proxy-client', { subject: '/CN=front-proxy-client', ca: 'front-proxy-ca' });
  openssl(['genrsa', '-out', 'sa.key', '2048'], dir);
  openssl(['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
}

function writeKubeconfig(file, server, pki) {
  const b64 = (f) => fs.readFileSync(path.join(pki, f)).toString('base64');
  fs.writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters:
  - name: emostream-local
    cluster:
      server: ${server}
      certificate-authority-data: ${b64('ca.crt')}
users:
  - name: emostream-admin
    user:
      client-certificate-data: ${b64('admin.crt')}
      client-key-data: ${b64('admin.key')}
contexts:
  - name: emostream-local
    context: { cluster: emostream-local, user: emostream-admin }
current-context: emostream-local
`,
  );
}

// Processes started by this Node process and not yet stopped: killed on exit whatever happens
// (they run in their own process groups, so nothing else would).
const live = new Set();
process.on('exit', () => {
  for (const p of live) {
    try {
      process.kill(-p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Starts a long-running program with its output in logs/<name>.log; returns a handle with stop(). */
export function startProcess(name, command, args, { logDir, env = {} }) {
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, `${name}.log`);
  const fd = fs.openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...env } });
  fs.closeSync(fd);
  const handle = { name, pid: child.pid, logFile, exited: null };
  handle.exit = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      handle.exited = { code, signal };
      live.delete(handle);
      resolve(handle.exited);
    }),
  );
  child.once('error', (err) => {
    handle.exited = { code: null, signal: null, error: err };
  });
  live.add(handle);
  handle.stop = async (timeoutMs = 15_000) => {
    if (handle.exited) return;
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    await handle.exit;
    clearTimeout(timer);
  };
  return handle;
}

export function logTail(file, lines = 25) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls fn() until it returns a truthy value; fails with `what` and the last error after timeoutMs. */
export async function waitFor(what, fn, { timeoutMs = 60_000, intervalMs = 500, processes = [] } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    for (const p of processes) {
      if (p.exited) throw new Error(`${p.name} exited (${JSON.stringify(p.exited)}) while waiting for ${what}:\n${logTail(p.logFile)}`);
    }
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** The fake nodes: CPU nodes over three zones, and GPU nodes as the gpu overlay expects them (label + taint). */
export const DEFAULT_NODES = [
  ...['a', 'b', 'c'].flatMap((zone) => [1, 2].map((i) => ({ name: `cpu-${zone}${i}`, zone: `zone-${zone}`, gpus: 0 }))),
  { name: 'gpu-a1', zone: 'zone-a', gpus: 2 },
  { name: 'gpu-b1', zone: 'zone-b', gpus: 2 },
];

/**
 * A kwok node. gpus > 0: advertises nvidia.com/gpu and carries the GPU taint; gpuLabel (default: it
 * has GPUs) sets the label GPU feature discovery would set, so a test can offer GPUs without it.
 */
function nodeManifest({ name, zone, gpus, gpuLabel = gpus > 0 }) {
  const gpu = gpus > 0;
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      // kwok manages the nodes carrying this annotation (and only those).
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'topology.kubernetes.io/zone': zone,
        type: 'kwok',
        // What NVIDIA's GPU feature discovery sets and the gpu overlay's nodeSelector asks for.
        ...(gpuLabel ? { 'nvidia.com/gpu.present': 'true' } : {}),
      },
    },
    spec: gpu ? { taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] } : {},
    status: {
      capacity: { cpu: '16', memory: '64Gi', pods: '110', ...(gpu ? { 'nvidia.com/gpu': String(gpus) } : {}) },
      allocatable: { cpu: '16', memory: '64Gi', pods: '110', ...(gpu ? { 'nvidia.com/gpu': String(gpus) } : {}) },
    },
  };
}

/**
 * Starts the control plane on free loopback ports. stateDir holds certificates, etcd's data and
 * every program's log (logs/*.log); it is deleted by stop() unless keepState.
 */
export async function startCluster({ stateDir, keepState = false, nodes = DEFAULT_NODES, hpaSyncPeriod = '15s' } = {}) {
  const bin = ensureKubernetes();
  const kwokBin = ensureKwok();
  const stages = kwokStages();
  const dir = stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'emostream-k8s-'));
  fs.rmSync(dir, { recursive: true, force: true });
  const pki = path.join(dir, 'pki');
  const logDir = path.join(dir, 'logs');
  makePki(pki);
  const [etcdPort, etcdPeer, apiPort, kwokPort] = await freePorts(4);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeKubeconfig(kubeconfig, server, pki);
  const p = (f) => path.join(pki, f);
  const processes = [];
  const stop = async () => {
    for (const proc of [...processes].reverse()) await proc.stop();
    if (!keepState) fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    const etcd = startProcess(
      'etcd',
      path.join(bin, 'etcd'),
      [
        '--name=emostream',
        `--data-dir=${path.join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=emostream=http://127.0.0.1:${etcdPeer}`,
        // Throwaway data on a shared 2-core machine: no fsync per write.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { logDir },
    );
    processes.push(etcd);
    await waitFor('etcd', () => fetch(`http://127.0.0.1:${etcdPort}/health`).then((r) => r.ok), { processes: [etcd] });

    const apiserver = startProcess(
      'kube-apiserver',
      path.join(bin, 'kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${p('apiserver.crt')}`,
        `--tls-private-key-file=${p('apiserver.key')}`,
        `--client-ca-file=${p('ca.crt')}`,
        // As a real cluster: RBAC (and the Node authorizer); the admin certificate is in system:masters.
        '--authorization-mode=Node,RBAC',
        `--service-account-key-file=${p('sa.pub')}`,
        `--service-account-signing-key-file=${p('sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        '--service-cluster-ip-range=10.96.0.0/16',
        // The aggregation layer, for KEDA's external-metrics API server.
        `--requestheader-client-ca-file=${p('front-proxy-ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${p('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${p('front-proxy-client.key')}`,
        // The built-in `kubernetes` Service's endpoint would be 127.0.0.1, which Endpoints refuse;
        // nothing in this cluster reaches the API server through that Service.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
        // `kubectl exec`/`logs` on a real kubelet (node.mjs): the API server authenticates with a
        // client certificate of the cluster CA, which the kubelet trusts, and reaches it on its
        // InternalIP (its Hostname, the node name, resolves nowhere here). Kubelets serve a
        // self-signed certificate, which the API server does not check (no --kubelet-certificate-authority).
        `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
        '--kubelet-preferred-address-types=InternalIP',
      ],
      { logDir },
    );
    processes.push(apiserver);
    const kubectl = (args, opts = {}) => runKubectl(bin, kubeconfig, args, opts);
    await waitFor('kube-apiserver /readyz', () => kubectl(['get', '--raw=/readyz'], { check: false }).status === 0, {
      timeoutMs: 120_000,
      processes: [etcd, apiserver],
    });

    const common = [`--kubeconfig=${kubeconfig}`, '--leader-elect=false'];
    processes.push(
      startProcess(
        'kube-controller-manager',
        path.join(bin, 'kube-controller-manager'),
        [
          ...common,
          // Serve nothing: no port to collide with, nothing to reach from outside.
          '--secure-port=0',
          `--service-account-private-key-file=${p('sa.key')}`,
          `--root-ca-file=${p('ca.crt')}`,
          '--service-cluster-ip-range=10.96.0.0/16',
          `--horizontal-pod-autoscaler-sync-period=${hpaSyncPeriod}`,
        ],
        { logDir },
      ),
    );
    processes.push(startProcess('kube-scheduler', path.join(bin, 'kube-scheduler'), [...common, '--secure-port=0'], { logDir }));
    processes.push(
      startProcess(
        'kwok',
        path.join(kwokBin, 'kwok'),
        [
          `--kubeconfig=${kubeconfig}`,
          ...stages.map((s) => `--config=${s}`),
          '--manage-all-nodes=false',
          '--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake',
          '--node-lease-duration-seconds=40',
          `--server-address=127.0.0.1:${kwokPort}`,
        ],
        { logDir },
      ),
    );

    const cluster = { kubeconfig, server, stateDir: dir, logDir, bin, kubectl, processes, stop };
    if (nodes.length) await applyObjects(cluster, nodes.map(nodeManifest));
    await waitFor(
      `${nodes.length} kwok nodes Ready`,
      () => {
        const list = JSON.parse(kubectl(['get', 'nodes', '-o', 'json']).stdout);
        return (
          list.items.filter((n) => n.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length === nodes.length
        );
      },
      { timeoutMs: 90_000, processes },
    );
    await waitFor(
      'the default ServiceAccount (kube-controller-manager)',
      () => kubectl(['get', 'sa', 'default', '-n', 'default'], { check: false }).status === 0,
      {
        processes,
      },
    );
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** kubectl against the local cluster; throws with its stderr unless check: false. */
export function runKubectl(bin, kubeconfig, args, { input, check = true } = {}) {
  const r = spawnSync(path.join(bin, 'kubectl'), [`--kubeconfig=${kubeconfig}`, ...args], {
    input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  if (check && r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  return r;
}

/** Server-side apply with strict field validation (unknown or duplicate fields fail, as on a real cluster). */
export function applyArgs() {
  return ['apply', '--server-side', '--field-manager=emostream', '--force-conflicts', '--validate=strict', '-f', '-'];
}

export async function applyObjects(cluster, objects, opts = {}) {
  const input = objects.map((o) => JSON.stringify(o)).join('\n---\n');
  return cluster.kubectl(applyArgs(), { input, ...opts });
}
