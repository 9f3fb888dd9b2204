// The programs of the local control plane, built once from the Go module proxy into .cache/k8s
// (git-ignored), and the CRDs the overlays need. Nothing is downloaded from anywhere else: Go
// fetches modules from its proxy, Strimzi's CRDs come from Maven Central (scripts/deploy/tools.mjs).
//
//   kubernetes-<v>/bin: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and etcd
//                       (the etcd version k8s.io/kubernetes itself pins), one `go build`, one module
//   kwok-<v>/bin:       kwok (fake nodes: marks pods bound to its nodes as running)
//   keda-<v>/bin:       operator and adapter (KEDA's external-metrics API server)
//   kube-router-<v>/bin: kube-router (the real node's NetworkPolicy agent)
//
// Each set is built in a staging folder and renamed into place at the end, so an interrupted build
// never counts; a version bump builds into a new folder. The Go build cache is shared with the
// rest of the machine (GOCACHE), so a rebuild after a bump only compiles what changed.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const cacheDir = path.join(root, '.cache', 'k8s');

export const KUBERNETES_VERSION = 'v1.34.0';
// k8s.io/kubernetes depends on its staging modules as v0.0.0 + replace ./staging; outside its
// repository those are the published k8s.io/* modules of the matching minor: v0.34.0 for v1.34.0.
const STAGING_VERSION = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');
export const KWOK_VERSION = 'v0.8.0';
export const KEDA_VERSION = 'v2.21.0';
// The NetworkPolicy agent of the real node (its firewall part only). v2.1.0 is the one version the
// Go module proxy lists for github.com/cloudnativelabs/kube-router/v2.
export const KUBE_ROUTER_VERSION = 'v2.1.0';
// Only its CRD files are used (PodMonitor, PrometheusRule); no operator runs.
export const PROMETHEUS_OPERATOR_VERSION = 'v0.85.0';

// Lean, reproducible binaries: no cgo, no paths or debug info baked in.
const GO_BUILD_FLAGS = ['-trimpath', '-ldflags=-s -w'];
const goEnv = () => ({ ...process.env, GOFLAGS: '-mod=mod -buildvcs=false', GOWORK: 'off', CGO_ENABLED: '0' });

function run(command, args, { cwd = root, why, capture = false } = {}) {
  const result = spawnSync(command, args, {
    cwd,
    env: goEnv(),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
  });
  if (result.error?.code === 'ENOENT') throw new Error(`\`${command}\` is not installed or not on PATH (${why})`);
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(
      `\`${command} ${args.join(' ')}\` failed (exit ${result.status ?? result.signal})\n${(result.stderr ?? '').slice(-4000)}`,
    );
  }
  return result.stdout;
}

/** Downloads a module through the Go proxy (module cache) and returns its folder and go.mod path. */
export function goModule(module, version) {
  const out = run('go', ['mod', 'download', '-json', `${module}@${version}`], { capture: true, why: 'Go fetches modules from its proxy' });
  const info = JSON.parse(out);
  if (info.Error) throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
  return { dir: info.Dir, goMod: info.GoMod };
}

/**
 * Builds `packages` of a throwaway main module (go.mod text + extra files) into <cacheDir>/<name>/bin,
 * unless already there. Returns the bin folder.
 */
function buildSet({ name, goMod, files = {}, packages, expect, ldflags = '' }) {
  const dir = path.join(cacheDir, name);
  const bin = path.join(dir, 'bin');
  if (expect.every((b) => fs.existsSync(path.join(bin, b)))) return bin;
  const staging = `${dir}.tmp`;
  fs.rmSync(staging, { recursive: true, force: true });
  const src = path.join(staging, 'src');
  fs.mkdirSync(src, { recursive: true });
  fs.writeFileSync(path.join(src, 'go.mod'), goMod);
  for (const [file, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(src, file)), { recursive: true });
    fs.writeFileSync(path.join(src, file), text);
  }
  const started = Date.now();
  console.error(`» building ${name}: ${expect.join(', ')} (go build, once; a cold build takes many minutes on 2 cores)`);
  const flags = ldflags ? GO_BUILD_FLAGS.map((f) => (f.startsWith('-ldflags=') ? `${f} ${ldflags}` : f)) : GO_BUILD_FLAGS;
  run('go', ['build', ...flags, '-o', `${path.join(staging, 'bin')}${path.sep}`, ...packages], {
    cwd: src,
    why: 'Go builds the control plane from the Go module proxy',
  });
  for (const b of expect) {
    if (!fs.existsSync(path.join(staging, 'bin', b))) throw new Error(`go build of ${name} produced no ${b}`);
  }
  console.error(`» built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(staging, dir);
  return bin;
}

/** The replace block k8s.io/kubernetes needs outside its repository: ./staging/src/k8s.io/x → k8s.io/x vSTAGING. */
function stagingReplaces(kubernetesGoMod) {
  const text = fs.readFileSync(kubernetesGoMod, 'utf8');
  const lines = [...text.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\//gm)].map(
    (m) => `\t${m[1]} v0.0.0 => ${m[1]} ${STAGING_VERSION}`,
  );
  if (lines.length < 10) throw new Error(`k8s.io/kubernetes ${KUBERNETES_VERSION}: expected its ./staging replaces in ${kubernetesGoMod}`);
  const etcd = text.match(/^\s*go\.etcd\.io\/etcd\/server\/v3\s+(v[\w.-]+)/m);
  if (!etcd) throw new Error(`k8s.io/kubernetes ${KUBERNETES_VERSION}: no go.etcd.io/etcd/server/v3 in its go.mod`);
  return { replaces: lines.join('\n'), etcdVersion: etcd[1] };
}

const ETCD_MAIN = `// etcd for the local control plane: etcd's own entry point, at the version k8s.io/kubernetes pins.
package main

import (
\t"os"

\t"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
`;

export function ensureKubernetes() {
  const { goMod } = goModule('k8s.io/kubernetes', KUBERNETES_VERSION);
  const { replaces, etcdVersion } = stagingReplaces(goMod);
  return buildSet({
    name: `kubernetes-${KUBERNETES_VERSION}`,
    goMod: `module emostream.local/k8s\n\ngo 1.24.0\n\nrequire (\n\tk8s.io/kubernetes ${KUBERNETES_VERSION}\n\tgo.etcd.io/etcd/server/v3 ${etcdVersion}\n)\n\nreplace (\n${replaces}\n)\n`,
    files: { 'cmd/etcd/main.go': ETCD_MAIN },
    packages: [
      'k8s.io/kubernetes/cmd/kube-apiserver',
      'k8s.io/kubernetes/cmd/kube-controller-manager',
      'k8s.io/kubernetes/cmd/kube-scheduler',
      'k8s.io/kubernetes/cmd/kubectl',
      './cmd/etcd',
    ],
    expect: ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl', 'etcd'],
  });
}

/** -X flags for k8s.io/component-base/version (otherwise `v0.0.0-master+$Format:%H$`). */
function versionLdflags() {
  const [major, minor] = KUBERNETES_VERSION.slice(1).split('.');
  const vars = {
    gitVersion: KUBERNETES_VERSION,
    gitMajor: major,
    gitMinor: minor,
    gitTreeState: 'clean',
    buildDate: '1970-01-01T00:00:00Z',
  };
  return Object.entries(vars)
    .map(([k, v]) => `-X k8s.io/component-base/version.${k}=${v}`)
    .join(' ');
}

/**
 * kubelet for the one real node (scripts/k8s/node.mjs): the same module and replaces as the control
 * plane, its own set so a machine that never runs a real node never builds it. Most of its packages
 * (client-go, apimachinery, k8s.io/kubernetes/pkg/apis) are already in the Go build cache from the
 * control plane's build; what remains is the kubelet's own code, cadvisor and runc's libcontainer.
 */
export function ensureKubelet() {
  const { goMod } = goModule('k8s.io/kubernetes', KUBERNETES_VERSION);
  const { replaces } = stagingReplaces(goMod);
  return buildSet({
    name: `kubelet-${KUBERNETES_VERSION}`,
    goMod: `module emostream.local/kubelet\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes ${KUBERNETES_VERSION}\n\nreplace (\n${replaces}\n)\n`,
    packages: ['k8s.io/kubernetes/cmd/kubelet'],
    expect: ['kubelet'],
    // What `make` stamps in (hack/lib/version.sh): the node reports it as its kubeletVersion.
    ldflags: versionLdflags(),
  });
}

export function ensureKwok() {
  return buildSet({
    name: `kwok-${KWOK_VERSION}`,
    goMod: `module emostream.local/kwok\n\ngo 1.26.0\n\nrequire sigs.k8s.io/kwok ${KWOK_VERSION}\n`,
    packages: ['sigs.k8s.io/kwok/cmd/kwok'],
    expect: ['kwok'],
  });
}

export function ensureKeda() {
  const { goMod } = goModule('github.com/kedacore/keda/v2', KEDA_VERSION);
  // A dependency's replace directives do not apply to the main module: repeat KEDA's own.
  const kedaReplaces = [...fs.readFileSync(goMod, 'utf8').matchAll(/^replace\s+(.+=>.+)$/gm)].map((m) => `replace ${m[1]}`);
  return buildSet({
    name: `keda-${KEDA_VERSION}`,
    goMod: `module emostream.local/keda\n\ngo 1.26.0\n\nrequire github.com/kedacore/keda/v2 ${KEDA_VERSION}\n\n${kedaReplaces.join('\n')}\n`,
    packages: ['github.com/kedacore/keda/v2/cmd/operator', 'github.com/kedacore/keda/v2/cmd/adapter'],
    expect: ['operator', 'adapter'],
  });
}

/** kube-router (NetworkPolicies on the real node of node.mjs, scripts/k8s/policy.mjs). */
export function ensureKubeRouter() {
  return buildSet({
    name: `kube-router-${KUBE_ROUTER_VERSION}`,
    goMod: `module emostream.local/kube-router\n\ngo 1.26.0\n\nrequire github.com/cloudnativelabs/kube-router/v2 ${KUBE_ROUTER_VERSION}\n`,
    packages: ['github.com/cloudnativelabs/kube-router/v2/cmd/kube-router'],
    expect: ['kube-router'],
  });
}

/** kwok's own stage definitions (node init + lease heartbeat, pods become ready fast), from its module. */
export function kwokStages() {
  const { dir } = goModule('sigs.k8s.io/kwok', KWOK_VERSION);
  return [
    'kustomize/stage/node/fast/node-initialize.yaml',
    'kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
    'kustomize/stage/pod/fast/pod-ready.yaml',
    'kustomize/stage/pod/fast/pod-complete.yaml',
    'kustomize/stage/pod/fast/pod-delete.yaml',
  ].map((f) => path.join(dir, f));
}

/** CRD files of KEDA and the Prometheus Operator, straight from their Go modules. Strimzi's: scripts/deploy/tools.mjs. */
export function operatorCrds() {
  const keda = goModule('github.com/kedacore/keda/v2', KEDA_VERSION).dir;
  const prom = goModule('github.com/prometheus-operator/prometheus-operator', PROMETHEUS_OPERATOR_VERSION).dir;
  const files = [
    ...fs
      .readdirSync(path.join(keda, 'config', 'crd', 'bases'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => path.join(keda, 'config', 'crd', 'bases', f)),
    ...['podmonitors', 'prometheusrules', 'servicemonitors'].map((k) =>
      path.join(prom, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${k}.yaml`),
    ),
  ];
  for (const f of files) if (!fs.existsSync(f)) throw new Error(`CRD file missing from the module cache: ${f}`);
  return files;
}

/** Everything `scripts/k8s` needs, built or fetched once. Returns the bin folders. */
export function ensureAll() {
  const started = Date.now();
  const bins = { kubernetes: ensureKubernetes(), kwok: ensureKwok(), keda: ensureKeda() };
  kwokStages();
  operatorCrds();
  console.error(`» control-plane programs ready (${Math.round((Date.now() - started) / 1000)} s)`);
  return bins;
}
