#!/usr/bin/env node
// One real node beside kwok's fake ones: containerd + runc (Debian's packages), the CNI plugins
// (Debian's containernetworking-plugins) on a bridge of its own, and a kubelet built from the Go
// module proxy (scripts/k8s/build.mjs, ensureKubelet). Its pods are real containers of the
// emostream image (imported from podman's storage into containerd's k8s.io namespace), and their
// probes are the kubelet's real HTTP probes.
//
//   node scripts/k8s/node.mjs build   builds what it needs once: the control plane and kwok sets, the
//                                     kubelet set (.cache/k8s/kubelet-<v>), the pause image
//   node scripts/k8s/node.mjs start   joins a control plane started by `node scripts/k8s/k8s.mjs start`
//                                     (its .cache/k8s/state/kubeconfig); runs until Ctrl-C / SIGTERM
//   node scripts/k8s/node.mjs stop    stops a `start` running elsewhere (its pid file)
//   node scripts/k8s/node.mjs pod     with a `start` running: a sink pod of localhost/emostream:test on
//                                     the real node, against KAFKA_BROKERS (a broker on 127.0.0.1),
//                                     waits until its readiness probe on /readyz passes (hostNetwork)
//        [--pod-network]              the same on the pod network (bridge), the broker relayed to the
//                                     pod by this process (see sinkObjects), until Ctrl-C
//
// What it needs and does on this machine (root): it creates the bridge emo-node0 with 10.244.99.1/24
// (the node's address: the kubelet refuses a loopback node IP) and cgroups under /emostream-node in
// every cgroup v1 hierarchy; the kubelet sets vm.overcommit_memory=1, kernel.panic=10 and
// kernel.panic_on_oops=1 (its "kernel defaults"), which `stop` puts back to what they were; the
// kubelet adds its empty canary chains (KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT) to iptables.
// Everything else stays under .cache/k8s/node (containerd's root, state and socket, the kubelet's
// root dir, pod logs, the CNI config and IPAM state).
//
// The node is tainted emostream.dev/real-node=true:NoSchedule and labelled emostream.dev/node=real:
// only pods that ask for it (nodeSelector + toleration) land on it; the manifests' pods stay on kwok.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { freePorts } from '../lib/ports.mjs';
import { cacheDir, ensureKubelet, goModule, KUBERNETES_VERSION } from './build.mjs';
import { logTail, startProcess, waitFor } from './cluster.mjs';

export const NODE_NAME = 'emostream-real-1';
export const NODE_TAINT = { key: 'emostream.dev/real-node', value: 'true', effect: 'NoSchedule' };
export const NODE_LABEL = { key: 'emostream.dev/node', value: 'real' };
export const BRIDGE = 'emo-node0';
export const POD_SUBNET = '10.244.99.0/24';
export const NODE_IP = '10.244.99.1';
export const PAUSE_IMAGE = 'localhost/emostream-pause:3.10.1';
export const APP_IMAGE = 'localhost/emostream:test';
const CGROUP_PARENT = '/emostream-node';
const KERNEL_TUNABLES = ['vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops'];

const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';
const RUNC = '/usr/sbin/runc';
const CNI_BIN = '/usr/lib/cni';

function sh(command, args, { input, check = true, why = '' } = {}) {
  const r = spawnSync(command, args, { input, encoding: input instanceof Buffer ? undefined : 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error?.code === 'ENOENT') throw new Error(`\`${command}\` is not installed${why ? ` (${why})` : ''}`);
  if (r.error) throw r.error;
  if (check && r.status !== 0) throw new Error(`\`${command} ${args.join(' ')}\` failed (exit ${r.status}):\n${r.stderr}`);
  return r;
}

/**
 * The sandbox ("pause") image: no registry can be reached, so it is built here from the pause.c of
 * the k8s.io/kubernetes module (build/pause/linux), compiled static as its Makefile does, in a
 * one-layer docker-archive that `ctr images import` takes. Cached in .cache/k8s/pause-<v>.
 */
export function ensurePauseImage() {
  const tag = PAUSE_IMAGE.split(':')[1];
  const dir = path.join(cacheDir, `pause-${tag}`);
  const archive = path.join(dir, 'pause.tar');
  if (fs.existsSync(archive)) return archive;
  const staging = `${dir}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  const { dir: k8sSrc } = goModule('k8s.io/kubernetes', KUBERNETES_VERSION);
  const rootfs = path.join(staging, 'rootfs');
  fs.mkdirSync(rootfs, { recursive: true });
  sh(
    'gcc',
    [
      '-Os',
      '-Wall',
      '-Werror',
      '-static',
      `-DVERSION=v${tag}-emostream`,
      '-o',
      path.join(rootfs, 'pause'),
      path.join(k8sSrc, 'build/pause/linux/pause.c'),
    ],
    {
      why: 'gcc and libc6-dev compile the pause binary',
    },
  );
  sh('strip', [path.join(rootfs, 'pause')], { check: false });
  const out = path.join(staging, 'archive');
  fs.mkdirSync(out);
  const tarFlags = ['--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '--sort=name'];
  sh('tar', [...tarFlags, '-C', rootfs, '-cf', path.join(out, 'layer.tar'), 'pause']);
  const diffId = crypto
    .createHash('sha256')
    .update(fs.readFileSync(path.join(out, 'layer.tar')))
    .digest('hex');
  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    // As the upstream image: the pause process runs as 65535, its only job is to hold the namespaces.
    config: { Entrypoint: ['/pause'], User: '65535:65535' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
    history: [{ created: '1970-01-01T00:00:00Z', created_by: 'gcc -static build/pause/linux/pause.c (scripts/k8s/node.mjs)' }],
  });
  const configName = `${crypto.createHash('sha256').update(config).digest('hex')}.json`;
  fs.writeFileSync(path.join(out, configName), config);
  fs.writeFileSync(
    path.join(out, 'manifest.json'),
    JSON.stringify([{ Config: configName, RepoTags: [PAUSE_IMAGE], Layers: ['layer.tar'] }]),
  );
  sh('tar', [...tarFlags, '-C', out, '-cf', path.join(staging, 'pause.tar'), 'manifest.json', configName, 'layer.tar']);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return archive;
}

function containerdConfig(d) {
  return `# containerd for the real node of scripts/k8s/node.mjs: its own root, state and socket.
version = 2
root = "${d.containerdRoot}"
state = "${d.containerdState}"
oom_score = 0
# Nothing but the CRI and what it needs: no snapshotters this machine lacks, no tracing.
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${d.socket}"

[ttrpc]
  address = "${d.socket}.ttrpc"

[debug]
  level = "info"

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "${path.join(d.containerdRoot, 'opt')}"

  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "${PAUSE_IMAGE}"
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    # No hugetlb hierarchy on this machine's cgroup v1 layout.
    disable_hugetlb_controller = true
    tolerate_missing_hugetlb_controller = true
    # The pods' network namespaces under the state dir, not /var/run/netns.
    netns_mounts_under_state_dir = true
    # No CAP_SYS_RESOURCE here: an oom_score_adj below containerd's own (the sandbox's -998, a
    # Guaranteed pod's -997) cannot be set; clamp to containerd's instead of failing the pod.
    restrict_oom_score_adj = true
    enable_unprivileged_ports = false
    enable_unprivileged_icmp = false

    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "${CNI_BIN}"
      conf_dir = "${d.cniConf}"
      max_conf_num = 1

    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"

        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          BinaryName = "${RUNC}"
          Root = "${path.join(d.containerdState, 'runc')}"
          # cgroupfs, as the kubelet's cgroupDriver: systemd does not manage this machine's cgroups.
          SystemdCgroup = false
`;
}

function cniConfig(d) {
  return JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: 'emostream-node',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          // The pods talk to the node (probes) and to each other; no NAT to anywhere else. Their
          // default route is the node, so that what they send beyond the bridge (a link-local
          // address, the node's other addresses) reaches it and meets the NetworkPolicies there
          // (scripts/k8s/policy.mjs) instead of failing in the pod with ENETUNREACH.
          isDefaultGateway: true,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: d.cniState,
            ranges: [[{ subnet: POD_SUBNET, rangeStart: '10.244.99.10', rangeEnd: '10.244.99.250', gateway: NODE_IP }]],
          },
        },
      ],
    },
    null,
    2,
  );
}

function kubeletConfig(d, ports, clusterCa) {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine: cgroup v1 (hybrid) managed by nobody, so cgroupfs; swap may be on.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
cgroupRoot: ${CGROUP_PARENT}
cgroupsPerQOS: true
enforceNodeAllocatable: [pods]
containerRuntimeEndpoint: unix://${d.socket}
imageServiceEndpoint: unix://${d.socket}
# Its servers on the node's bridge address and loopback only, on free ports.
address: ${NODE_IP}
port: ${ports.kubelet}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${ports.healthz}
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: false }
  x509: { clientCAFile: ${clusterCa} }
authorization:
  mode: AlwaysAllow
podLogsDir: ${d.podLogs}
# The images are imported, never pulled: never collect them, and never evict for a disk the other
# users of this machine fill.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
registerWithTaints:
  - key: ${NODE_TAINT.key}
    value: "${NODE_TAINT.value}"
    effect: ${NODE_TAINT.effect}
resolvConf: /etc/resolv.conf
serializeImagePulls: true
maxPods: 16
# Its own -999 needs CAP_SYS_RESOURCE, which this machine does not give.
oomScoreAdj: 0
`;
}

export function nodeDirs(stateDir) {
  // containerd's root (snapshots and content of the imported images) outlives a run: importing the
  // 680 MB image again each time would be most of a run.
  const base = path.join(cacheDir, 'node-images');
  return {
    stateDir,
    logDir: path.join(stateDir, 'logs'),
    containerdRoot: path.join(base, 'containerd-root'),
    containerdState: path.join(stateDir, 'containerd'),
    socket: path.join(stateDir, 'containerd', 'containerd.sock'),
    cniConf: path.join(stateDir, 'cni', 'net.d'),
    cniState: path.join(stateDir, 'cni', 'ipam'),
    kubeletRoot: path.join(stateDir, 'kubelet'),
    podLogs: path.join(stateDir, 'pod-logs'),
    imported: path.join(base, 'imported.json'),
  };
}

export function ctr(d, args, opts = {}) {
  return sh(CTR, ['--address', d.socket, '--namespace', 'k8s.io', ...args], opts);
}

/** The id podman gives the app image, so a rebuilt image is imported again. */
function podmanImageId(image) {
  const r = sh('podman', ['image', 'inspect', '--format', '{{.Id}}', image], { check: false, why: 'podman holds the emostream image' });
  if (r.status !== 0) throw new Error(`${image} is not in podman's storage: \`npm run test:containers\` builds it\n${r.stderr}`);
  return r.stdout.trim();
}

export function importImages(d) {
  const done = fs.existsSync(d.imported) ? JSON.parse(fs.readFileSync(d.imported, 'utf8')) : {};
  const listed = () => ctr(d, ['images', 'ls', '-q']).stdout.split('\n');
  const pause = ensurePauseImage();
  if (!listed().includes(PAUSE_IMAGE)) ctr(d, ['images', 'import', '--no-unpack', pause]);
  const appId = podmanImageId(APP_IMAGE);
  if (done[APP_IMAGE] !== appId || !listed().includes(APP_IMAGE)) {
    console.error(`» importing ${APP_IMAGE} (podman save | ctr images import)`);
    const saved = path.join(d.stateDir, 'app-image.tar');
    sh('podman', ['save', '--format', 'docker-archive', '-o', saved, APP_IMAGE]);
    ctr(d, ['images', 'import', saved]);
    fs.rmSync(saved, { force: true });
    done[APP_IMAGE] = appId;
    fs.writeFileSync(d.imported, JSON.stringify(done));
  }
}

/** The bridge, created before the kubelet starts so that its node IP exists on the host. */
function ensureBridge() {
  if (sh('ip', ['link', 'show', BRIDGE], { check: false }).status !== 0) {
    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge'], { why: 'iproute2 makes the node bridge' });
  }
  const addrs = sh('ip', ['-o', 'addr', 'show', 'dev', BRIDGE]).stdout;
  if (!addrs.includes(`${NODE_IP}/`)) sh('ip', ['addr', 'add', `${NODE_IP}/24`, 'dev', BRIDGE]);
  sh('ip', ['link', 'set', BRIDGE, 'up']);
}

function removeBridge() {
  sh('ip', ['link', 'del', BRIDGE], { check: false });
}

const cgroupV1Hierarchies = () =>
  fs
    .readdirSync('/sys/fs/cgroup')
    .filter(
      (h) =>
        h !== 'unified' &&
        !h.includes(',') &&
        fs.statSync(path.join('/sys/fs/cgroup', h)).isDirectory() &&
        !fs.lstatSync(path.join('/sys/fs/cgroup', h)).isSymbolicLink(),
    );

/** The kubelet's --cgroup-root must exist in every hierarchy it uses. */
function ensureCgroupParent() {
  for (const h of cgroupV1Hierarchies()) fs.mkdirSync(path.join('/sys/fs/cgroup', h, CGROUP_PARENT), { recursive: true });
  // A new cpuset cgroup starts with no CPUs and no memory nodes: give it its parent's.
  const cpuset = '/sys/fs/cgroup/cpuset';
  for (const f of ['cpuset.cpus', 'cpuset.mems']) {
    const mine = path.join(cpuset, CGROUP_PARENT, f);
    if (fs.existsSync(mine) && !fs.readFileSync(mine, 'utf8').trim())
      fs.writeFileSync(mine, fs.readFileSync(path.join(cpuset, f), 'utf8').trim());
  }
}

function removeCgroupParent() {
  // Deepest first; a cgroup with processes left in it stays (and says so).
  // runc also makes the pods' cgroups in the hybrid layout's cgroup v2 tree (unified).
  for (const h of [...cgroupV1Hierarchies(), 'unified']) {
    const top = path.join('/sys/fs/cgroup', h, CGROUP_PARENT);
    if (!fs.existsSync(top)) continue;
    const dirs = [];
    const walk = (dir) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(dir, e.name));
      dirs.push(dir);
    };
    walk(top);
    for (const dir of dirs) {
      try {
        fs.rmdirSync(dir);
      } catch (err) {
        console.error(`left ${dir}: ${err.code}`);
      }
    }
  }
}

// What the kubelet adds to iptables (and ip6tables) at start: its canary chains, and KUBE-FIREWALL
// (drops connections to 127.0.0.0/8 from other sources) jumped to from INPUT and OUTPUT. Taken out
// again at stop, unless they were already there before (someone else's kubelet or kube-proxy).
const KUBELET_CHAINS = [
  { table: 'filter', chain: 'KUBE-FIREWALL', from: ['INPUT', 'OUTPUT'] },
  { table: 'filter', chain: 'KUBE-KUBELET-CANARY', from: [] },
  { table: 'nat', chain: 'KUBE-KUBELET-CANARY', from: [] },
  { table: 'mangle', chain: 'KUBE-KUBELET-CANARY', from: [] },
  { table: 'mangle', chain: 'KUBE-IPTABLES-HINT', from: [] },
];
const IPTABLES = ['iptables', 'ip6tables'];
const chainExists = (tool, table, chain) => sh(tool, ['-w', '-t', table, '-S', chain], { check: false }).status === 0;
function iptablesBefore() {
  return IPTABLES.flatMap((tool) =>
    KUBELET_CHAINS.filter((c) => chainExists(tool, c.table, c.chain)).map((c) => `${tool}/${c.table}/${c.chain}`),
  );
}
function removeKubeletChains(existedBefore) {
  for (const tool of IPTABLES) {
    for (const { table, chain, from } of KUBELET_CHAINS) {
      if (existedBefore.includes(`${tool}/${table}/${chain}`) || !chainExists(tool, table, chain)) continue;
      for (const parent of from) {
        for (let i = 0; i < 10 && sh(tool, ['-w', '-t', table, '-D', parent, '-j', chain], { check: false }).status === 0; i++);
      }
      sh(tool, ['-w', '-t', table, '-F', chain], { check: false });
      sh(tool, ['-w', '-t', table, '-X', chain], { check: false });
    }
  }
}

const readTunables = () => Object.fromEntries(KERNEL_TUNABLES.map((t) => [t, fs.readFileSync(`/proc/sys/${t}`, 'utf8').trim()]));
function restoreTunables(saved) {
  for (const [t, v] of Object.entries(saved ?? {})) {
    try {
      if (fs.readFileSync(`/proc/sys/${t}`, 'utf8').trim() !== v) fs.writeFileSync(`/proc/sys/${t}`, v);
    } catch (err) {
      console.error(`could not restore /proc/sys/${t} to ${v}: ${err.message}`);
    }
  }
}

/**
 * Starts containerd and a kubelet that registers NODE_NAME with the cluster (from startCluster or
 * the running `k8s.mjs start`: { kubeconfig, stateDir, kubectl }). Returns { name, dirs, stop() }.
 */
export async function startNode(cluster, { stateDir = path.join(cacheDir, 'node'), readyTimeoutMs = 180_000 } = {}) {
  if (process.getuid?.() !== 0) throw new Error('the real node needs root (containerd, runc, cgroups, the bridge)');
  const kubeletBin = ensureKubelet();
  // Anything a previous run left: a killed run could not put the kernel settings back; do it now.
  const leftTunables = path.join(stateDir, 'kernel-tunables.json');
  if (fs.existsSync(leftTunables)) restoreTunables(JSON.parse(fs.readFileSync(leftTunables, 'utf8')));
  unmountUnder(stateDir);
  fs.rmSync(stateDir, { recursive: true, force: true });
  const d = nodeDirs(stateDir);
  for (const dir of [d.logDir, d.containerdRoot, d.containerdState, d.cniConf, d.cniState, d.kubeletRoot, d.podLogs])
    fs.mkdirSync(dir, { recursive: true });
  const savedTunables = readTunables();
  fs.writeFileSync(path.join(stateDir, 'kernel-tunables.json'), JSON.stringify(savedTunables));
  const chainsBefore = iptablesBefore();

  const processes = [];
  const stop = async () => {
    // Pods first (the kubelet would leave their containers running), then the kubelet, then containerd.
    const kubelet = processes.find((p) => p.name === 'kubelet');
    if (kubelet && !kubelet.exited) await kubelet.stop();
    const containerd = processes.find((p) => p.name === 'containerd');
    if (containerd && !containerd.exited) {
      removeAllPods(d);
      await containerd.stop();
    }
    restoreTunables(savedTunables);
    removeKubeletChains(chainsBefore);
    removeCgroupParent();
    removeBridge();
  };

  try {
    ensureBridge();
    ensureCgroupParent();
    fs.writeFileSync(path.join(stateDir, 'containerd.toml'), containerdConfig(d));
    fs.writeFileSync(path.join(d.cniConf, '10-emostream-node.conflist'), cniConfig(d));
    const containerd = startProcess('containerd', CONTAINERD, ['--config', path.join(stateDir, 'containerd.toml')], { logDir: d.logDir });
    processes.push(containerd);
    await waitFor('containerd', () => ctr(d, ['version'], { check: false }).status === 0, { timeoutMs: 30_000, processes: [containerd] });
    importImages(d);

    const [kubeletPort, healthzPort] = await freePorts(2);
    const pki = path.join(cluster.stateDir, 'pki');
    fs.writeFileSync(
      path.join(stateDir, 'kubelet.yaml'),
      kubeletConfig(d, { kubelet: kubeletPort, healthz: healthzPort }, path.join(pki, 'ca.crt')),
    );
    const kubelet = startProcess(
      'kubelet',
      path.join(kubeletBin, 'kubelet'),
      [
        `--config=${path.join(stateDir, 'kubelet.yaml')}`,
        // The admin kubeconfig of the local cluster (system:masters), as every other component here.
        `--kubeconfig=${cluster.kubeconfig}`,
        `--root-dir=${d.kubeletRoot}`,
        `--cert-dir=${path.join(d.kubeletRoot, 'pki')}`,
        `--hostname-override=${NODE_NAME}`,
        `--node-ip=${NODE_IP}`,
        `--node-labels=${NODE_LABEL.key}=${NODE_LABEL.value},topology.kubernetes.io/zone=zone-real`,
        '--v=2',
      ],
      { logDir: d.logDir },
    );
    processes.push(kubelet);
    await waitFor(
      `node ${NODE_NAME} Ready (kubelet log: ${kubelet.logFile})`,
      () => {
        const r = cluster.kubectl(['get', 'node', NODE_NAME, '-o', 'json'], { check: false });
        if (r.status !== 0) return false;
        return JSON.parse(r.stdout).status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 1_000, processes },
    );
    return { name: NODE_NAME, dirs: d, processes, stop };
  } catch (err) {
    const logs = processes.map((p) => `--- ${p.name} (${p.logFile}):\n${logTail(p.logFile, 40)}`).join('\n');
    await stop();
    err.message += `\n${logs}`;
    throw err;
  }
}

/** Stops and removes every pod sandbox containerd still runs (after the kubelet is gone). */
function removeAllPods(d) {
  const tasks = ctr(d, ['tasks', 'ls', '-q'], { check: false }).stdout?.split('\n').filter(Boolean) ?? [];
  for (const id of tasks) ctr(d, ['tasks', 'kill', '--signal', 'SIGKILL', id], { check: false });
  for (let i = 0; i < 20; i++) {
    const left = ctr(d, ['tasks', 'ls', '-q'], { check: false }).stdout?.split('\n').filter(Boolean) ?? [];
    for (const id of left) ctr(d, ['tasks', 'delete', id], { check: false });
    if (left.length === 0) break;
    spawnSync('sleep', ['0.5']);
  }
  for (const id of ctr(d, ['containers', 'ls', '-q'], { check: false }).stdout?.split('\n').filter(Boolean) ?? []) {
    ctr(d, ['containers', 'delete', id], { check: false });
    // libcni's cache of the sandbox's networks (its own folder, not configurable through containerd).
    for (const f of [`emostream-node-${id}-eth0`, `cni-loopback-${id}-lo`])
      fs.rmSync(path.join('/var/lib/cni/results', f), { force: true });
  }
  // The pods' network namespaces and their bind mounts under the state dir.
  const netns = path.join(d.containerdState, 'io.containerd.grpc.v1.cri', 'netns');
  if (fs.existsSync(netns)) {
    for (const f of fs.readdirSync(netns)) {
      spawnSync('umount', [path.join(netns, f)]);
    }
  }
  unmountUnder(d.stateDir);
}

/**
 * Unmounts whatever is mounted under dir, deepest last-mounted first: the kubelet's volumes (Secrets,
 * emptyDirs on tmpfs), the sandboxes' /dev/shm, the kubelet's bind mount of its own root. The
 * kernel lists mounts by their real path, so dir is resolved first (.cache may be a symlink).
 */
function unmountUnder(dir) {
  if (!fs.existsSync(dir)) return;
  const real = `${fs.realpathSync(dir)}/`;
  const mounts = fs
    .readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m && `${m}/`.startsWith(real));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
}

/**
 * The sink stage of the dev overlay as a Deployment of one replica on the real node, in namespace
 * `ns`: the overlay's pod template unchanged (uid 10001, read-only root, no capabilities, seccomp
 * RuntimeDefault, its limits, its startup/liveness/readiness probes on /healthz and /readyz), except:
 *  - the image: localhost/emostream:test, imported (imagePullPolicy Never);
 *  - the broker: the test broker, plaintext on 127.0.0.1 without users, so the pod shares the node's
 *    network (hostNetwork) and the Kafka ConfigMap's TLS/SASL settings, the kafka-ca volume and the
 *    SASL Secret refs are left out (as in scripts/containers/containers.test.ts);
 *  - the ops port: a free one (the host's network is shared) on the node's bridge address, where
 *    the kubelet's probes go (a hostNetwork pod's IP is the node IP);
 *  - nodeSelector + toleration for the real node.
 */
export function sinkObjects({ ns, brokers, topicPrefix, opsPort, renderOverlay, parseAll, network = 'host' }) {
  const objects = parseAll(renderOverlay());
  const byKind = (kind, name) => {
    const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
    if (!o) throw new Error(`the dev overlay has no ${kind} ${name}`);
    return structuredClone(o);
  };
  const kafka = byKind('ConfigMap', 'emostream-kafka');
  const runtime = byKind('ConfigMap', 'emostream-runtime');
  const deployment = byKind('Deployment', 'emostream-sink');
  for (const o of [kafka, runtime, deployment]) {
    o.metadata.namespace = ns;
    delete o.metadata.annotations;
  }
  for (const k of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_REJECT_UNAUTHORIZED']) delete kafka.data[k];
  Object.assign(kafka.data, {
    KAFKA_BROKERS: brokers,
    KAFKA_SSL: 'false',
    KAFKA_SASL_MECHANISM: 'none',
    EMOSTREAM_TOPIC_PREFIX: topicPrefix,
  });
  deployment.spec.replicas = 1;
  const pod = deployment.spec.template.spec;
  pod.nodeSelector = { [NODE_LABEL.key]: NODE_LABEL.value };
  pod.tolerations = [{ key: NODE_TAINT.key, operator: 'Equal', value: NODE_TAINT.value, effect: NODE_TAINT.effect }];
  pod.volumes = pod.volumes.filter((v) => v.name !== 'kafka-ca');
  const [c] = pod.containers;
  c.image = APP_IMAGE;
  c.imagePullPolicy = 'Never';
  c.env = c.env.filter((e) => !e.valueFrom?.secretKeyRef);
  c.volumeMounts = c.volumeMounts.filter((m) => m.name !== 'kafka-ca');
  if (network === 'host') {
    Object.assign(runtime.data, { EMOSTREAM_OPS_PORT: String(opsPort), EMOSTREAM_OPS_HOST: NODE_IP });
    pod.hostNetwork = true;
    pod.dnsPolicy = 'Default';
    c.ports = [{ name: 'ops', containerPort: opsPort, hostPort: opsPort, protocol: 'TCP' }];
  } else {
    // The pod network: its own namespace and address on the bridge, the ops server on 0.0.0.0:9400
    // as in the manifests. The broker listens on, and advertises, 127.0.0.1:<port> of the node: a
    // sidecar (native: an init container that keeps running) relays 127.0.0.1:<port> of the pod to
    // the same port on the node address, where relayBroker() relays it to the broker.
    pod.dnsPolicy = 'Default';
    const [host, port] = brokers.split(',')[0].split(':');
    if (host !== '127.0.0.1') throw new Error(`the pod-network sink expects a broker on 127.0.0.1, not ${brokers}`);
    pod.initContainers = [
      {
        name: 'broker-relay',
        image: APP_IMAGE,
        imagePullPolicy: 'Never',
        restartPolicy: 'Always',
        command: ['node', '-e', RELAY_JS, `127.0.0.1:${port}`, `${NODE_IP}:${port}`],
        resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
        securityContext: structuredClone(c.securityContext),
      },
    ];
  }
  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } };
  return [namespace, kafka, runtime, deployment];
}

// A TCP relay in a few lines of Node: `node -e RELAY_JS <listen host:port> <target host:port>`.
const RELAY_JS = `const net = require('node:net');
const [listen, target] = process.argv.slice(1).map((a) => { const i = a.lastIndexOf(':'); return [a.slice(0, i), Number(a.slice(i + 1))]; });
net.createServer((c) => { const u = net.connect(target[1], target[0]); c.pipe(u).pipe(c); c.on('error', () => u.destroy()); u.on('error', () => c.destroy()); })
  .listen(listen[1], listen[0], () => console.log('relay', listen.join(':'), '->', target.join(':')));
process.on('SIGTERM', () => process.exit(0));`;

/** The node side of the pod-network sink's broker path: NODE_IP:<port> -> 127.0.0.1:<port>. Returns close(). */
export async function relayBroker(brokers) {
  const port = Number(brokers.split(',')[0].split(':')[1]);
  return relay({ listenHost: NODE_IP, listenPort: port, targetPort: port });
}

/** A TCP relay on listenHost:listenPort to 127.0.0.1:targetPort; returns close(). */
export async function relay({ listenHost, listenPort, targetPort }) {
  const sockets = new Set();
  const server = net.createServer((c) => {
    const u = net.connect(targetPort, '127.0.0.1');
    for (const s of [c, u]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    c.pipe(u).pipe(c);
    c.on('error', () => u.destroy());
    u.on('error', () => c.destroy());
  });
  await new Promise((resolve, reject) => server.once('error', reject).listen(listenPort, listenHost, resolve));
  return {
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  };
}

export const _internal = { containerdConfig, kubeletConfig, cniConfig, os };

// ---- CLI ---------------------------------------------------------------------------------------

const STATE_DIR = path.join(cacheDir, 'node');
const PID_FILE = path.join(cacheDir, 'node.pid');
const CLUSTER_STATE = path.join(cacheDir, 'state');

async function runningCluster() {
  const { runKubectl } = await import('./cluster.mjs');
  const { ensureKubernetes } = await import('./build.mjs');
  const kubeconfig = path.join(CLUSTER_STATE, 'kubeconfig');
  if (!fs.existsSync(path.join(cacheDir, 'k8s.pid')) || !fs.existsSync(kubeconfig)) {
    throw new Error('no local control plane is running: `node scripts/k8s/k8s.mjs start` first (in another terminal)');
  }
  const bin = ensureKubernetes();
  return { kubeconfig, stateDir: CLUSTER_STATE, bin, kubectl: (args, opts) => runKubectl(bin, kubeconfig, args, opts), processes: [] };
}

async function cliStart() {
  const cluster = await runningCluster();
  console.error(`» starting containerd and a kubelet: node ${NODE_NAME} at ${NODE_IP}`);
  const node = await startNode(cluster, { stateDir: STATE_DIR });
  fs.writeFileSync(PID_FILE, String(process.pid));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    console.error('» stopping the real node (its pods, kubelet, containerd; bridge, cgroups, kernel settings back)');
    await node.stop();
    cluster.kubectl(['delete', 'node', NODE_NAME, '--ignore-not-found', '--wait=false'], { check: false });
    fs.rmSync(PID_FILE, { force: true });
    process.exit(0);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stop);
  for (const proc of node.processes) {
    proc.exit.then(async (how) => {
      if (stopping) return;
      console.error(`${proc.name} exited unexpectedly (${JSON.stringify(how)}); see ${proc.logFile}`);
      await stop();
    });
  }
  console.log(
    `node ${NODE_NAME} Ready (taint ${NODE_TAINT.key}=${NODE_TAINT.value}:${NODE_TAINT.effect}, label ${NODE_LABEL.key}=${NODE_LABEL.value})`,
  );
  console.log(`logs: ${node.dirs.logDir}`);
  console.log(`ctr:  ctr --address ${node.dirs.socket} -n k8s.io containers ls`);
}

function cliStop() {
  if (!fs.existsSync(PID_FILE)) return console.error('no real node is running (no .cache/k8s/node.pid)');
  const pid = Number(fs.readFileSync(PID_FILE, 'utf8'));
  try {
    process.kill(pid, 'SIGTERM');
    console.error(`asked the real node (pid ${pid}) to stop`);
  } catch (err) {
    if (err.code !== 'ESRCH') throw err;
    fs.rmSync(PID_FILE, { force: true });
  }
}

async function cliPod(podNetwork) {
  const brokers = process.env.KAFKA_BROKERS;
  if (!brokers) throw new Error('KAFKA_BROKERS is not set (a broker on 127.0.0.1, e.g. `node scripts/kafka/kafka.mjs`)');
  const cluster = await runningCluster();
  const { applyArgs } = await import('./cluster.mjs');
  const [opsPort] = await freePorts(1);
  const relay = podNetwork ? await relayBroker(brokers) : null;
  const result = await runSinkPod(cluster, { brokers, opsPort, applyArgs, network: podNetwork ? 'pod' : 'host' });
  console.log(result.summary);
  if (relay) {
    // The pod reaches the broker through this process: keep relaying until Ctrl-C.
    console.log(`relaying ${NODE_IP}:${brokers.split(':')[1]} -> the broker until Ctrl-C`);
    await new Promise((resolve) => ['SIGINT', 'SIGTERM'].forEach((sig) => process.once(sig, resolve)));
    await relay.close();
  }
}

/** Applies sinkObjects and waits for its pod to be Ready on the real node; returns the pod and a summary. */
export async function runSinkPod(
  cluster,
  {
    brokers,
    opsPort,
    applyArgs,
    network = 'host',
    ns = `emostream-realnode-${network}`,
    topicPrefix = `realnode-${network}-${Date.now()}`,
    timeoutMs = 300_000,
  },
) {
  const { renderOverlay } = await import('./crds.mjs');
  const YAML = (await import('yaml')).default;
  const objects = sinkObjects({
    ns,
    brokers,
    topicPrefix,
    opsPort,
    network,
    renderOverlay: () => renderOverlay(path.join(cacheDir, '..', '..', 'deploy', 'k8s', 'overlays', 'dev')),
    parseAll: (y) => YAML.parseAllDocuments(y).map((doc) => doc.toJS()),
  });
  cluster.kubectl(applyArgs(), { input: objects.map((o) => JSON.stringify(o)).join('\n---\n') });
  const podList = () =>
    JSON.parse(cluster.kubectl(['get', 'pods', '-n', ns, '-l', 'app.kubernetes.io/component=sink', '-o', 'json']).stdout).items;
  let pod;
  try {
    pod = await waitFor(
      'the sink pod Ready on the real node (its readiness probe on /readyz)',
      () =>
        podList().find((p) => p.spec.nodeName === NODE_NAME && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')),
      { timeoutMs, intervalMs: 2_000, processes: cluster.processes },
    );
  } catch (err) {
    const describe = cluster.kubectl(['describe', 'pods', '-n', ns], { check: false }).stdout;
    err.message += `\n${describe.split('\n').slice(-40).join('\n')}`;
    throw err;
  }
  const status = pod.status.containerStatuses[0];
  const summary = `pod ${ns}/${pod.metadata.name} Ready on ${pod.spec.nodeName} (${pod.status.podIP}), container ${status.containerID}, image ${status.image}, ready ${status.ready}, restarts ${status.restartCount}`;
  return { pod, ns, summary };
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const [command] = process.argv.slice(2);
  try {
    if (command === 'build') {
      const { ensureKubernetes, ensureKwok } = await import('./build.mjs');
      ensureKubernetes();
      ensureKwok();
      console.log(ensureKubelet());
      console.log(ensurePauseImage());
    } else if (command === 'start') await cliStart();
    else if (command === 'stop') cliStop();
    else if (command === 'pod') await cliPod(process.argv.includes('--pod-network'));
    else {
      console.error('usage: node scripts/k8s/node.mjs build | start | stop | pod [--pod-network]');
      process.exit(2);
    }
  } catch (err) {
    console.error(`node: ${err.message}`);
    process.exit(1);
  }
}
