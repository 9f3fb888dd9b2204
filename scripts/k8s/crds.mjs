// The CustomResourceDefinitions the overlays use, installed into the local cluster: Strimzi's
// (generated from its Maven Central jars, as `npm run deploy:check` does), KEDA's and the
// Prometheus Operator's (from their Go modules). No operator of Strimzi or Prometheus runs: the
// custom resources are stored and validated by the API server against these schemas, nothing more.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureKustomize, ensureStrimziCrds } from '../deploy/tools.mjs';
import { operatorCrds } from './build.mjs';
import { waitFor } from './cluster.mjs';

export function crdFiles() {
  const strimzi = ensureStrimziCrds();
  return [...fs.readdirSync(strimzi).map((f) => path.join(strimzi, f)), ...operatorCrds()];
}

export async function installCrds(cluster) {
  const files = crdFiles();
  const input = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n---\n');
  cluster.kubectl(['apply', '--server-side', '--field-manager=emostream-crds', '-f', '-'], { input });
  await waitFor(
    `${files.length} CRDs established`,
    () => {
      const list = JSON.parse(cluster.kubectl(['get', 'crd', '-o', 'json']).stdout);
      const established = list.items.filter((c) => c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True'));
      return established.length >= files.length;
    },
    { timeoutMs: 60_000, processes: cluster.processes },
  );
}

/** `kustomize build <dir>`: the YAML stream of an overlay. */
export function renderOverlay(dir) {
  const r = spawnSync(ensureKustomize(), ['build', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`kustomize build ${dir} failed:\n${r.stderr}`);
  return r.stdout;
}
