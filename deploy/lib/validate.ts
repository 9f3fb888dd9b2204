/**
 * Offline schema validation of rendered objects:
 * - built-in kinds with kubernetes-models' validators (the Kubernetes OpenAPI schemas);
 * - KEDA and Prometheus Operator kinds with @kubernetes-models/keda and …/prometheus-operator;
 * - Strimzi kinds with ajv against Strimzi's own CRD schemas (generated from its Maven Central
 *   jars by scripts/deploy/tools.mjs), strictly: an unknown field is an error, as the API server
 *   would silently prune it.
 * An apiVersion/kind none of these knows is an error too: nothing passes unchecked.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { ensureStrimziCrds } from '../../scripts/deploy/tools.mjs';
import { describe, type K8sObject } from './render.js';

/** Where the model classes of an API group live (module path prefix + `/<group>/<version>`). */
const MODEL_PACKAGES: Record<string, string> = {
  '': 'kubernetes-models',
  apps: 'kubernetes-models',
  policy: 'kubernetes-models',
  'networking.k8s.io': 'kubernetes-models',
  'keda.sh': '@kubernetes-models/keda',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};
const STRIMZI_GROUP = 'kafka.strimzi.io';

type ModelClass = new (data: unknown) => { validate(): void };

function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  const { group, version } = splitApiVersion(apiVersion);
  const pkg = MODEL_PACKAGES[group];
  if (pkg === undefined) return undefined;
  const module = `${pkg}/${group === '' ? version : `${group}/${version}`}`;
  let exports: Record<string, unknown>;
  try {
    exports = (await import(module)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return typeof exports[kind] === 'function' ? (exports[kind] as ModelClass) : undefined;
}

/** Turns a CRD's structural schema into a strict JSON Schema: objects with declared properties allow no others. */
function strictSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(strictSchema);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'description' || key.startsWith('x-kubernetes-')) continue;
    out[key] =
      key === 'properties'
        ? Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, strictSchema(v)]))
        : strictSchema(value);
  }
  const source = node as Record<string, unknown>;
  if (
    source.properties !== undefined &&
    source.additionalProperties === undefined &&
    source['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    out.additionalProperties = false;
  }
  return out;
}

interface CrdVersion {
  name: string;
  served: boolean;
  schema: { openAPIV3Schema: unknown };
}

let strimzi: Map<string, ValidateFunction> | undefined;

/** Validators per "kind@version" from the Strimzi CRDs. */
function strimziValidators(): Map<string, ValidateFunction> {
  if (strimzi) return strimzi;
  const ajv = new Ajv({ allErrors: true, strict: false });
  strimzi = new Map();
  const dir = ensureStrimziCrds();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const crd = parseYaml(readFileSync(path.join(dir, file), 'utf8')) as { spec: { names: { kind: string }; versions: CrdVersion[] } };
    for (const version of crd.spec.versions.filter((v) => v.served)) {
      strimzi.set(`${crd.spec.names.kind}@${version.name}`, ajv.compile(strictSchema(version.schema.openAPIV3Schema) as object));
    }
  }
  return strimzi;
}

/** A Strimzi object against its CRD's strict schema: one message per problem (empty: valid). */
export function validateStrimzi(object: K8sObject): string[] {
  const { version } = splitApiVersion(object.apiVersion);
  const validator = strimziValidators().get(`${object.kind}@${version}`);
  if (!validator) return [`${describe(object)}: no Strimzi CRD serves ${object.apiVersion} ${object.kind}`];
  if (validator(object)) return [];
  return (validator.errors ?? []).map((e) => {
    const extra = e.keyword === 'additionalProperties' ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"` : '';
    return `${describe(object)}: ${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
  });
}

/** Validates each object; returns one message per problem (empty: all valid). */
export async function validateObjects(objects: readonly K8sObject[]): Promise<string[]> {
  const problems: string[] = [];
  for (const object of objects) {
    if (typeof object?.apiVersion !== 'string' || typeof object?.kind !== 'string') {
      problems.push(`${JSON.stringify(object).slice(0, 80)}: no apiVersion/kind`);
      continue;
    }
    if (typeof object.metadata?.name !== 'string' || object.metadata.name === '') {
      problems.push(`${object.kind}: metadata.name missing`);
      continue;
    }
    if (splitApiVersion(object.apiVersion).group === STRIMZI_GROUP) {
      problems.push(...validateStrimzi(object));
      continue;
    }
    const Model = await modelClass(object.apiVersion, object.kind);
    if (!Model) {
      problems.push(
        `${describe(object)}: no schema for ${object.apiVersion} ${object.kind} (add its validator package to deploy/lib/validate.ts)`,
      );
      continue;
    }
    try {
      new Model(object).validate();
    } catch (error) {
      problems.push(`${describe(object)}: ${(error as Error).message}`);
    }
  }
  return problems;
}
