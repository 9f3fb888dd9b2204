/**
 * The rendered manifests, typed: each object of a kind the policy tests read is narrowed from the plain parsed
 * YAML to its model's interface, and only after its schema accepted it (kubernetes-models' validators for the
 * built-in, KEDA and Prometheus Operator kinds; Strimzi's own CRD schema for the Strimzi kinds). So a test reads
 * `deployment.spec` as an `IDeploymentSpec`, not as `any`, and a manifest that does not have the shape its type
 * says fails here, naming the object, before any test reads it.
 */
import { IoK8sApiAppsV1Deployment as Deployment, type IDeployment } from 'kubernetes-models/apps/v1';
import { IoK8sApiNetworkingV1NetworkPolicy as NetworkPolicy, type INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { IoK8sApiPolicyV1PodDisruptionBudget as PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1';
import {
  IoK8sApiCoreV1ConfigMap as ConfigMap,
  IoK8sApiCoreV1PersistentVolumeClaim as PersistentVolumeClaim,
  IoK8sApiCoreV1Secret as Secret,
  type IConfigMap,
  type IContainer,
  type IPodSpec,
  type IPersistentVolumeClaim,
  type ISecret,
} from 'kubernetes-models/v1';
import {
  ScaledObject,
  TriggerAuthentication,
  type IScaledObject,
  type ITriggerAuthentication,
} from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { PodMonitor, type IPodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { describe, type K8sObject } from './render.js';
import { validateStrimzi } from './validate.js';

/** What every Kubernetes object names: its type. */
type TypeMeta = Pick<K8sObject, 'apiVersion' | 'kind'>;

/** An object as rendered: its model's interface, with the name every rendered object has (validateObjects checks it). */
export type Rendered<T> = K8sObject & T;

/** The fields of Strimzi's KafkaTopic (kafka.strimzi.io/v1beta2) that the tests read; the CRD schema has them all. */
export interface KafkaTopic extends TypeMeta {
  spec: { topicName?: string; partitions?: number; replicas?: number; config?: Record<string, string | number | boolean> };
}

/** One ACL of a KafkaUser (Strimzi's `simple` authorization). */
export interface KafkaAcl {
  resource: { type: string; name?: string; patternType?: string };
  operations: string[];
  host?: string;
}

/** The fields of Strimzi's KafkaUser that the tests read. */
export interface KafkaUser extends TypeMeta {
  spec: {
    authentication?: { type: string; password?: { valueFrom: { secretKeyRef: { name: string; key: string } } } };
    authorization?: { type: string; acls: KafkaAcl[] };
  };
}

/** One listener of a Strimzi Kafka. */
export interface KafkaListener {
  name: string;
  port: number;
  type: string;
  tls: boolean;
  authentication?: { type: string };
  networkPolicyPeers?: {
    podSelector?: { matchLabels?: Record<string, string> };
    namespaceSelector?: { matchLabels?: Record<string, string> };
  }[];
}

/** The fields of Strimzi's Kafka that the tests read. */
export interface Kafka extends TypeMeta {
  spec: { kafka: { listeners: KafkaListener[] }; kafkaExporter?: Record<string, unknown> };
}

/** Strimzi's KafkaNodePool: the tests read only its metadata. */
export interface KafkaNodePool extends TypeMeta {
  spec: Record<string, unknown>;
}

/** The objects a guard has validated already: the tests select the same kinds again and again. */
const VALIDATED = new WeakSet<object>();

/** Narrows a built-in, KEDA or Prometheus Operator object with its model class: kind and apiVersion, then its schema. */
interface ModelClass<T extends TypeMeta> {
  is(value: unknown): value is T;
  new (data: T): { validate(): void };
}

function modelGuard<T extends TypeMeta>(Model: ModelClass<T>): (object: K8sObject) => object is Rendered<T> {
  return (object): object is Rendered<T> => {
    if (!Model.is(object)) return false;
    if (VALIDATED.has(object)) return true;
    try {
      new Model(object).validate();
    } catch (error) {
      throw new Error(`${describe(object)} does not match its schema: ${(error as Error).message}`);
    }
    VALIDATED.add(object);
    return true;
  };
}

/** Narrows a Strimzi object: kind and apiVersion, then the strict CRD schema (which has every field the interface names). */
function strimziGuard<T extends TypeMeta>(kind: string): (object: K8sObject) => object is Rendered<T> {
  return (object): object is Rendered<T> => {
    if (object.apiVersion !== 'kafka.strimzi.io/v1beta2' || object.kind !== kind) return false;
    if (VALIDATED.has(object)) return true;
    const problems = validateStrimzi(object);
    if (problems.length > 0) throw new Error(`${describe(object)} does not match its CRD schema: ${problems.join('; ')}`);
    VALIDATED.add(object);
    return true;
  };
}

/** The kinds the tests read, each with its type. */
interface ManifestTypes {
  ConfigMap: IConfigMap;
  Secret: ISecret;
  PersistentVolumeClaim: IPersistentVolumeClaim;
  Deployment: IDeployment;
  PodDisruptionBudget: IPodDisruptionBudget;
  NetworkPolicy: INetworkPolicy;
  ScaledObject: IScaledObject;
  TriggerAuthentication: ITriggerAuthentication;
  PodMonitor: IPodMonitor;
  Kafka: Kafka;
  KafkaTopic: KafkaTopic;
  KafkaUser: KafkaUser;
  KafkaNodePool: KafkaNodePool;
}
export type ManifestKind = keyof ManifestTypes;
export type ManifestOf<K extends ManifestKind> = Rendered<ManifestTypes[K]>;

const GUARDS: { [K in ManifestKind]: (object: K8sObject) => object is ManifestOf<K> } = {
  ConfigMap: modelGuard(ConfigMap),
  Secret: modelGuard(Secret),
  PersistentVolumeClaim: modelGuard(PersistentVolumeClaim),
  Deployment: modelGuard(Deployment),
  PodDisruptionBudget: modelGuard(PodDisruptionBudget),
  NetworkPolicy: modelGuard(NetworkPolicy),
  ScaledObject: modelGuard(ScaledObject),
  TriggerAuthentication: modelGuard(TriggerAuthentication),
  PodMonitor: modelGuard(PodMonitor),
  Kafka: strimziGuard('Kafka'),
  KafkaTopic: strimziGuard('KafkaTopic'),
  KafkaUser: strimziGuard('KafkaUser'),
  KafkaNodePool: strimziGuard('KafkaNodePool'),
};

/** The typed objects of one rendering, by kind. */
export interface Manifests {
  /** Every object of `kind`, in rendering order. */
  ofKind<K extends ManifestKind>(kind: K): ManifestOf<K>[];
  /** The object of `kind` named `name`; throws, naming both, if there is none. */
  byName<K extends ManifestKind>(kind: K, name: string): ManifestOf<K>;
}

/** Types a rendering's objects; an object of a known kind that its schema rejects throws here. */
export function typedManifests(objects: readonly K8sObject[], source: string): Manifests {
  const ofKind = <K extends ManifestKind>(kind: K): ManifestOf<K>[] => {
    const guard: (object: K8sObject) => object is ManifestOf<K> = GUARDS[kind];
    return objects.filter(guard);
  };
  return {
    ofKind,
    byName: (kind, name) => {
      const found = ofKind(kind).find((o) => o.metadata.name === name);
      if (found === undefined) throw new Error(`${source}: no ${kind}/${name}`);
      return found;
    },
  };
}

/** A Deployment's pod spec; a Deployment without one throws, naming it. */
export function podOf(deployment: ManifestOf<'Deployment'>): IPodSpec {
  const pod = deployment.spec?.template.spec;
  if (pod === undefined) throw new Error(`${describe(deployment)}: no pod template spec`);
  return pod;
}

/** A pod's first container (the stage's own; the tests read its env and resources). */
export function mainContainer(pod: IPodSpec, owner: string): IContainer {
  const container = pod.containers[0];
  if (container === undefined) throw new Error(`${owner}: no container`);
  return container;
}
