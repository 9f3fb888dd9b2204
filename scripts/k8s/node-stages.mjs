// The dev overlay's five stages on the real node of node.mjs, against the test broker as the
// existing Kafka cluster the overlay expects (README "Using an existing Kafka cluster"): what the
// test (scripts/k8s/node.test.mjs) provides in place of Strimzi, and the kustomization it puts on
// top of deploy/k8s/overlays/dev.
//
// What Strimzi would provide, and what stands in for it here:
//  - the bootstrap address the Kafka ConfigMap and the ScaledObjects name,
//    emostream-kafka-kafka-bootstrap.<ns>.svc:9093, TLS + SCRAM-SHA-512: the test broker's second
//    listener (scripts/kafka/kafka.mjs, saslSsl) on 127.0.0.1, advertised under that name, with a
//    certificate for that name from a CA of the test's; the users and passwords of the overlay's
//    Secrets are made its SCRAM users; no authorizer (the KafkaUsers' ACLs are not enforced);
//  - the Secret emostream-kafka-cluster-ca-cert (key ca.crt), as Strimzi's cluster operator makes it;
//  - the topics of the overlay's KafkaTopics (name, partitions, config), as its topic operator would.
// This cluster has no DNS and no kube-proxy, so the name is resolved by each pod's /etc/hosts
// (hostAliases: the node address, where relay() passes 9093 to the listener) and, for KEDA's
// operator, which runs on the machine, by an /etc/hosts of its own mount namespace (keda.mjs).
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { issueCert, makeCa } from './cluster.mjs';
import { APP_IMAGE, NODE_IP, NODE_LABEL, NODE_TAINT } from './node.mjs';

export const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'];

/**
 * CPU requests are divided by this on the real node: the manifests ask for 2.85 cores for one pod
 * per stage (ingest's two replicas 250m each, face and backbone 1 each, temporal 250m, sink 100m),
 * more than the 2 cores this machine has, before a rolling update's surge pod or a KEDA replica.
 * Limits (CPU and memory) and memory requests stay as shipped.
 */
export const CPU_REQUEST_DIVISOR = 4;

export const objectsOf = (yaml) => YAML.parseAllDocuments(yaml).map((d) => d.toJS());

/** The bootstrap host and port the overlay's Kafka ConfigMap names (its KAFKA_BROKERS). */
export function bootstrapOf(objects) {
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'emostream-kafka');
  if (!cm) throw new Error('the overlay has no ConfigMap emostream-kafka');
  const [host, port] = cm.data.KAFKA_BROKERS.split(',')[0].split(':');
  return {
    host,
    port: Number(port),
    namespace: cm.metadata.namespace,
    tls: cm.data.KAFKA_SSL === 'true',
    sasl: cm.data.KAFKA_SASL_MECHANISM,
  };
}

/** The SCRAM users of the overlay's Secrets emostream-kafka-* (username and password keys). */
export function kafkaUsersOf(objects) {
  const decode = (v) => Buffer.from(v, 'base64').toString('utf8');
  return objects
    .filter((o) => o.kind === 'Secret' && /^emostream-kafka-/.test(o.metadata.name) && o.data?.username && o.data?.password)
    .map((o) => ({ secret: o.metadata.name, username: decode(o.data.username), password: decode(o.data.password) }));
}

/**
 * The broker's TLS material: a CA of the test's and a certificate for the bootstrap name, the key
 * and chain in one PEM file (Kafka's PEM key store). Returns { caFile, keystore }.
 */
export function makeKafkaTls(dir, host) {
  fs.mkdirSync(dir, { recursive: true });
  makeCa(dir, 'ca', 'emostream-test-kafka-ca');
  issueCert(dir, 'broker', { subject: `/CN=${host}`, sans: [`DNS:${host}`] });
  const keystore = path.join(dir, 'broker-keystore.pem');
  fs.writeFileSync(keystore, fs.readFileSync(path.join(dir, 'broker.key'), 'utf8') + fs.readFileSync(path.join(dir, 'broker.crt'), 'utf8'));
  return { caFile: path.join(dir, 'ca.crt'), keystore };
}

/** The Secret Strimzi's cluster operator makes for the cluster CA, as the stages and KEDA read it. */
export function clusterCaSecret(ns, caFile) {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'emostream-kafka-cluster-ca-cert', namespace: ns },
    data: { 'ca.crt': fs.readFileSync(caFile).toString('base64') },
  };
}

/** Creates the topics of the overlay's KafkaTopics (Strimzi's topic operator's job) through a kafkajs admin. */
export async function createTopicsOf(objects, admin) {
  const topics = objects
    .filter((o) => o.kind === 'KafkaTopic')
    .map((o) => ({
      topic: o.spec.topicName ?? o.metadata.name,
      numPartitions: o.spec.partitions,
      replicationFactor: o.spec.replicas,
      configEntries: Object.entries(o.spec.config ?? {}).map(([name, value]) => ({ name, value: String(value) })),
    }));
  await admin.createTopics({ topics, waitForLeaders: true });
  return topics;
}

const cpuMillis = (q) => (String(q).endsWith('m') ? Number(String(q).slice(0, -1)) : Math.round(Number(q) * 1000));

/**
 * The kustomization the test applies: the dev overlay as shipped, plus, for every Deployment
 * (strategic-merge patches, printed by the test):
 *  - image localhost/emostream:test (the CPU image, imported into containerd), imagePullPolicy Never;
 *  - nodeSelector + toleration for the real node (the kwok nodes run no containers);
 *  - hostAliases: the bootstrap name -> the node address (no cluster DNS here; see the header);
 *  - CPU requests divided by CPU_REQUEST_DIVISOR (see there);
 * and for ingest only: the test clips (test/media/labelled) from a read-only hostPath at /media and
 * INGEST_MEDIA_ROOTS=/media (the manifests allow no files; a file stream is what can run offline).
 * The dev overlay's backbone is the CPU one (EMOSTREAM_EXECUTION_PROVIDER=cpu, no GPU request, no
 * nodeSelector): only the gpu overlay asks for nvidia.com/gpu and GPU nodes, so nothing about GPUs
 * needs undoing here.
 */
export function realNodeKustomization({ overlayDir, dir, objects, mediaDir }) {
  const { host } = bootstrapOf(objects);
  const patches = [];
  for (const stage of STAGES) {
    const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `emostream-${stage}`);
    if (!deployment) throw new Error(`the overlay has no Deployment emostream-${stage}`);
    const [container] = deployment.spec.template.spec.containers;
    const cpu = cpuMillis(container.resources.requests.cpu);
    const patch = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: deployment.metadata.name },
      spec: {
        template: {
          spec: {
            nodeSelector: { [NODE_LABEL.key]: NODE_LABEL.value },
            tolerations: [{ key: NODE_TAINT.key, operator: 'Equal', value: NODE_TAINT.value, effect: NODE_TAINT.effect }],
            hostAliases: [{ ip: NODE_IP, hostnames: [host] }],
            containers: [
              {
                name: container.name,
                imagePullPolicy: 'Never',
                resources: { requests: { cpu: `${Math.ceil(cpu / CPU_REQUEST_DIVISOR)}m` } },
                ...(stage === 'ingest'
                  ? {
                      env: [{ name: 'INGEST_MEDIA_ROOTS', value: '/media' }],
                      volumeMounts: [{ name: 'test-media', mountPath: '/media', readOnly: true }],
                    }
                  : {}),
              },
            ],
            ...(stage === 'ingest' ? { volumes: [{ name: 'test-media', hostPath: { path: mediaDir, type: 'Directory' } }] } : {}),
          },
        },
      },
    };
    patches.push({ file: `real-node-${stage}.yaml`, patch });
  }
  const [imageName, imageTag] = APP_IMAGE.split(':');
  // The image as the overlay renders it (emostream:dev), whatever it is named there.
  const shipped = new Set(
    objects.filter((o) => o.kind === 'Deployment').map((o) => o.spec.template.spec.containers[0].image.replace(/:[^:/]+$/, '')),
  );
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [path.relative(dir, overlayDir)],
    images: [...shipped].map((name) => ({ name, newName: imageName, newTag: imageTag })),
    patches: patches.map((p) => ({ path: p.file })),
  };
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kustomization.yaml'), YAML.stringify(kustomization));
  for (const p of patches) fs.writeFileSync(path.join(dir, p.file), YAML.stringify(p.patch));
  const printed = [
    `# ${path.join(dir, 'kustomization.yaml')}`,
    YAML.stringify(kustomization),
    ...patches.map((p) => `# ${p.file}\n${YAML.stringify(p.patch)}`),
  ].join('\n');
  return { dir, printed };
}
