import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { ensureKustomize } from '../../scripts/deploy/tools.mjs';
import { K8S_DIR, type Overlay } from './paths.js';

/** One Kubernetes object as rendered (a plain JSON value). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** Parses a multi-document YAML stream into objects; a YAML error fails with its position. */
export function parseManifests(text: string, source: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    objects.push(value as K8sObject);
  }
  return objects;
}

/** `kustomize build` of one overlay (kustomize from the Go module proxy, cached by scripts/deploy/tools.mjs). */
export function renderOverlay(overlay: Overlay): K8sObject[] {
  return renderDir(path.join(K8S_DIR, 'overlays', overlay));
}

/** `kustomize build` of any kustomization folder. */
export function renderDir(dir: string): K8sObject[] {
  const text = execFileSync(ensureKustomize(), ['build', dir], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return parseManifests(text, `kustomize build ${path.relative(process.cwd(), dir)}`);
}

export const describe = (o: Pick<K8sObject, 'kind' | 'metadata'>): string => `${o.kind}/${o.metadata?.name ?? '?'}`;
