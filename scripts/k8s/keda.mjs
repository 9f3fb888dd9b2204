// KEDA out of cluster, against the local API server (scripts/k8s/cluster.mjs): the operator (it
// reads Kafka lag, owns one HPA per ScaledObject) and its metrics adapter, the external-metrics
// API server the HPA controller reads through the API server's aggregation layer.
//
// In a cluster the adapter sits behind a Service; here it listens on loopback, and the APIService
// points at a Service of type ExternalName "localhost", which the aggregator resolves to
// localhost:<port> (ExternalName services are the one kind it routes to without a ClusterIP,
// which would need kube-proxy). The adapter's serving certificate names the Service as the
// aggregator checks it (keda-metrics-apiserver.keda.svc), signed by the cluster CA.
import fs from 'node:fs';
import path from 'node:path';
import { ensureKeda } from './build.mjs';
import { freePorts } from '../lib/ports.mjs';
import { applyObjects, issueCert, startProcess, waitFor } from './cluster.mjs';

export const KEDA_NAMESPACE = 'keda';

/**
 * Starts the operator and the adapter, registers the external-metrics APIService; resolves once it is Available.
 * hosts: { name: ip } the operator resolves (its scalers dial the Kafka bootstrap address of the
 * ScaledObjects, a cluster DNS name this cluster has no DNS for): the operator runs in a mount
 * namespace of its own where /etc/hosts is a copy of the machine's plus these, the machine's own
 * /etc/hosts untouched.
 */
export async function startKeda(cluster, { hosts = {} } = {}) {
  const bin = ensureKeda();
  const certDir = path.join(cluster.stateDir, 'keda-certs');
  fs.mkdirSync(certDir, { recursive: true });
  // One certificate for both ends of KEDA's internal gRPC (operator ↔ adapter, mutual TLS, files
  // ca.crt/tls.crt/tls.key as KEDA expects them) and for the adapter's HTTPS.
  fs.copyFileSync(path.join(cluster.stateDir, 'pki', 'ca.crt'), path.join(certDir, 'ca.crt'));
  fs.copyFileSync(path.join(cluster.stateDir, 'pki', 'ca.key'), path.join(certDir, 'ca.key'));
  issueCert(certDir, 'tls', {
    subject: '/CN=keda',
    sans: ['DNS:localhost', 'IP:127.0.0.1', `DNS:keda-metrics-apiserver.${KEDA_NAMESPACE}.svc`, `DNS:keda-operator.${KEDA_NAMESPACE}.svc`],
  });
  fs.rmSync(path.join(certDir, 'ca.key'));

  const [grpcPort, adapterPort, opMetrics, opProbe, adapterMetrics] = await freePorts(5);
  await applyObjects(cluster, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: KEDA_NAMESPACE } }]);
  const env = {
    KUBECONFIG: cluster.kubeconfig,
    WATCH_NAMESPACE: '', // every namespace
    POD_NAMESPACE: KEDA_NAMESPACE,
    KEDA_CLUSTER_OBJECT_NAMESPACE: KEDA_NAMESPACE,
  };
  const operatorCommand = [path.join(bin, 'operator')];
  if (Object.keys(hosts).length) {
    const hostsFile = path.join(certDir, 'hosts');
    fs.writeFileSync(
      hostsFile,
      `${fs.readFileSync('/etc/hosts', 'utf8').trimEnd()}\n# scripts/k8s/keda.mjs\n${Object.entries(hosts)
        .map(([name, ip]) => `${ip} ${name}`)
        .join('\n')}\n`,
    );
    operatorCommand.unshift(
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      'mount --bind "$0" /etc/hosts && exec "$@"',
      hostsFile,
    );
  }
  const operator = startProcess(
    'keda-operator',
    operatorCommand[0],
    [
      ...operatorCommand.slice(1),
      `--metrics-bind-address=127.0.0.1:${opMetrics}`,
      `--health-probe-bind-address=127.0.0.1:${opProbe}`,
      `--metrics-service-bind-address=127.0.0.1:${grpcPort}`,
      `--cert-dir=${certDir}`,
      // No admission webhook runs here, and the APIService below is ours to manage.
      '--enable-webhook-patching=false',
      '--enable-apiservice-patching=false',
      '--zap-log-level=info',
    ],
    { logDir: cluster.logDir, env },
  );
  cluster.processes.push(operator);
  const adapter = startProcess(
    'keda-adapter',
    path.join(bin, 'adapter'),
    [
      // The adapter reads ScaledObjects with this one (in a pod: the in-cluster config).
      `--lister-kubeconfig=${cluster.kubeconfig}`,
      `--authentication-kubeconfig=${cluster.kubeconfig}`,
      `--authorization-kubeconfig=${cluster.kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${adapterPort}`,
      `--cert-dir=${certDir}`,
      `--tls-cert-file=${path.join(certDir, 'tls.crt')}`,
      `--tls-private-key-file=${path.join(certDir, 'tls.key')}`,
      `--metrics-service-address=127.0.0.1:${grpcPort}`,
      `--port=${adapterMetrics}`,
    ],
    { logDir: cluster.logDir, env },
  );
  cluster.processes.push(adapter);

  await applyObjects(cluster, [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'keda-metrics-apiserver', namespace: KEDA_NAMESPACE },
      spec: { type: 'ExternalName', externalName: 'localhost' },
    },
    {
      apiVersion: 'apiregistration.k8s.io/v1',
      kind: 'APIService',
      metadata: { name: 'v1beta1.external.metrics.k8s.io' },
      spec: {
        group: 'external.metrics.k8s.io',
        version: 'v1beta1',
        service: { namespace: KEDA_NAMESPACE, name: 'keda-metrics-apiserver', port: adapterPort },
        caBundle: fs.readFileSync(path.join(certDir, 'ca.crt')).toString('base64'),
        groupPriorityMinimum: 100,
        versionPriority: 100,
      },
    },
  ]);
  await waitFor(
    'the external-metrics APIService (KEDA adapter) to be Available',
    () => {
      const svc = JSON.parse(cluster.kubectl(['get', 'apiservice', 'v1beta1.external.metrics.k8s.io', '-o', 'json']).stdout);
      return svc.status?.conditions?.some((c) => c.type === 'Available' && c.status === 'True');
    },
    { timeoutMs: 120_000, intervalMs: 1000, processes: [operator, adapter] },
  );
  return { operator, adapter };
}
