/**
 * `npm run test:containers`: the CPU image built from deploy/docker/Dockerfile as it is (only NODE_IMAGE
 * overridden, to a base made from Debian's packages and the npm registry's Node), and the five stages
 * run from it as the Kubernetes manifests run them — the dev overlay's ConfigMaps and env, uid 10001,
 * a read-only root with /tmp as a tmpfs of the emptyDir's size, every capability dropped,
 * no-new-privileges, the manifests' memory and CPU limits and their `args` — against the test broker.
 * A file stream added with `emo streams add` (from the image too) must reach the events topic, every
 * event valid against the JSON Schema; each stage's /healthz, /readyz and /metrics must answer; each
 * must exit 0 on SIGTERM within its terminationGracePeriodSeconds.
 *
 * What differs from a pod, and why: the broker is the test broker (plaintext on loopback, no SASL: the
 * cluster's TLS and SCRAM users are Strimzi's), so the Kafka ConfigMap's TLS/SASL settings are left
 * out; containers share the host's network (the broker is on 127.0.0.1), so each gets its own ops port
 * on loopback instead of 9400 on its pod's address; ingest gets a media root for the test clip (the
 * manifests allow no files); the topic prefix is fresh per run.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { eventsTopic, KafkaBus, samplingStep, topicName, type EmotionEvent } from '@emostream/shared';
import { freePort, kafkaBrokers, kafkaTestConfig, randomPrefix, readEachRecordOnce, waitFor } from '@emostream/shared/testing';
import { renderOverlay, type K8sObject } from '../../deploy/lib/render.js';
import { baseImage, buildImage, formatSizes, IMAGE, IMAGE_BUDGET_BYTES, imageSizes, megabytes, podman, PODMAN_ENV, ROOT } from './image.js';

const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;
type Stage = (typeof STAGES)[number];
const CLIP = 'cremad_1001_DFA_happy.flv';
const CLIP_FRAMES = 56; // test/media/MANIFEST.md; 29.97 fps
const MEDIA = path.join(ROOT, 'test', 'media', 'labelled');
const podmanAsync = (args: string[]) => promisify(execFile)('podman', args, { env: PODMAN_ENV, encoding: 'utf8' });

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: unknown };
}
interface Container {
  name: string;
  args: string[];
  envFrom?: { configMapRef?: { name: string } }[];
  env?: EnvVar[];
  resources: { limits: { cpu: string; memory: string } };
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } };
  volumeMounts?: { name: string; mountPath: string }[];
}
interface PodSpec {
  terminationGracePeriodSeconds: number;
  securityContext: { runAsUser: number; runAsGroup: number };
  containers: Container[];
  volumes?: { name: string; emptyDir?: { sizeLimit?: string } }[];
}

/** Kubernetes quantities as podman takes them: memory in bytes, CPU in cores. */
function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  assert.ok(match, `a memory quantity: ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Math.round(Number(match[1]) * unit);
}
const cores = (quantity: string): number => (quantity.endsWith('m') ? Number(quantity.slice(0, -1)) / 1000 : Number(quantity));

/** The podman arguments that run one stage's Deployment as its pod would run it (see the header for the differences). */
function podmanRunArgs(
  deployment: K8sObject,
  configMaps: Map<string, Record<string, string>>,
  overrides: Record<string, string>,
  mounts: string[],
): string[] {
  const pod = (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
  const [container] = pod.containers;
  assert.ok(container, `${deployment.metadata.name} has a container`);
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) Object.assign(env, configMaps.get(from.configMapRef!.name));
  for (const v of container.env ?? []) {
    if (v.value !== undefined) env[v.name] = v.value;
    else if (v.valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[v.name] = `${deployment.metadata.name}-0`;
  }
  // The test broker is plaintext without users (see the header).
  for (const name of ['KAFKA_SSL_CA_FILE', 'KAFKA_SSL_REJECT_UNAUTHORIZED', 'KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD']) delete env[name];
  Object.assign(env, overrides);

  const sc = container.securityContext;
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  const tmp = container.volumeMounts?.find((m) => m.mountPath === '/tmp');
  const tmpSize = pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir?.sizeLimit;
  assert.ok(tmpSize, `${deployment.metadata.name}: /tmp is an emptyDir with a size limit`);
  return [
    'run',
    '--detach',
    '--name',
    deployment.metadata.name,
    '--network=host',
    `--user=${pod.securityContext.runAsUser}:${pod.securityContext.runAsGroup}`,
    '--read-only',
    '--read-only-tmpfs=false',
    `--tmpfs=/tmp:rw,size=${bytes(tmpSize)},mode=1777`,
    '--cap-drop=ALL',
    '--security-opt=no-new-privileges',
    `--memory=${bytes(container.resources.limits.memory)}`,
    `--cpus=${cores(container.resources.limits.cpu)}`,
    ...mounts,
    ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
    IMAGE,
    ...container.args,
  ];
}

describe('the CPU image, its five stages run as the manifests run them', () => {
  const prefix = randomPrefix('containers');
  const bus = new KafkaBus(kafkaTestConfig('containers'));
  const events: EmotionEvent[] = [];
  const opsPorts = new Map<Stage, number>();
  const grace = new Map<Stage, number>();
  let reader: Awaited<ReturnType<typeof readEachRecordOnce>> | undefined;
  let base = '';
  const credentialsDir = mkdtempSync(path.join(tmpdir(), 'emostream-cameras-'));

  before(() => {
    base = baseImage();
    buildImage(base);
  });
  after(async () => {
    await reader?.close();
    await bus.close();
    for (const stage of STAGES) {
      try {
        podman(['rm', '--force', '--time=0', `emostream-${stage}`]);
      } catch {
        // never started
      }
    }
  });

  it(`is built from the unchanged Dockerfile within ${megabytes(IMAGE_BUDGET_BYTES)}`, () => {
    const sizes = imageSizes(IMAGE, base);
    console.log(`image ${IMAGE}, where its bytes go:\n${formatSizes(sizes)}`);
    assert.ok(sizes.total <= IMAGE_BUDGET_BYTES, `image is ${megabytes(sizes.total)}, over ${megabytes(IMAGE_BUDGET_BYTES)}`);
  });

  it("takes a container's CPU limit or CPU set as the CPUs its model and video threads may use", () => {
    // --cpus sets the cgroup's CPU quota, as a pod's limits.cpu does; --cpuset-cpus its CPU set, as
    // Kubernetes' static CPU manager does. Node's and onnxruntime's defaults count the host's cores.
    const usable = (limit: string) =>
      podman([
        'run',
        '--rm',
        limit,
        '--entrypoint=node',
        IMAGE,
        '--input-type=module',
        '--eval',
        "import { usableCpus } from '/app/libs/shared/dist/src/index.js'; console.log(usableCpus())",
      ]).trim();
    assert.equal(usable('--cpus=1'), '1');
    assert.equal(usable('--cpus=0.5'), '1', 'half a CPU is still one thread');
    assert.equal(usable('--cpuset-cpus=0'), '1');
  });

  it('runs the five stages as containers, and a file stream added with emo streams add reaches the events, all schema-valid', async () => {
    const objects = renderOverlay('dev');
    const configMaps = new Map(
      objects.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, (o as unknown as { data: Record<string, string> }).data]),
    );
    const topic = topicName(eventsTopic, prefix);
    await bus.createTopics([{ name: topic, partitions: eventsTopic.defaultPartitions }]);
    reader = await readEachRecordOnce(bus, `${prefix}.reader`, [topic], (r) => {
      events.push(JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent);
    });

    const kafka = { KAFKA_BROKERS: kafkaBrokers(), KAFKA_SSL: 'false', KAFKA_SASL_MECHANISM: 'none', EMOSTREAM_TOPIC_PREFIX: prefix };
    for (const stage of STAGES) {
      const deployment = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === `emostream-${stage}`);
      assert.ok(deployment, `the dev overlay has emostream-${stage}`);
      const pod = (deployment as unknown as { spec: { template: { spec: PodSpec } } }).spec.template.spec;
      grace.set(stage, pod.terminationGracePeriodSeconds);
      const port = await freePort();
      opsPorts.set(stage, port);
      const ingestOnly: { overrides: Record<string, string>; mounts: string[] } =
        stage === 'ingest'
          ? {
              overrides: { INGEST_MEDIA_ROOTS: '/media' },
              mounts: [`--volume=${MEDIA}:/media:ro`, `--volume=${credentialsDir}:/var/run/secrets/emostream/cameras:ro`],
            }
          : { overrides: {}, mounts: [] };
      podman(
        podmanRunArgs(
          deployment,
          configMaps,
          { ...kafka, EMOSTREAM_OPS_PORT: String(port), EMOSTREAM_OPS_HOST: '127.0.0.1', ...ingestOnly.overrides },
          ingestOnly.mounts,
        ),
      );
    }

    // Ready as the readiness probes see it, then the stream, added by the image's own `emo`.
    for (const stage of STAGES) {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${opsPorts.get(stage)}/readyz`).catch(() => undefined))?.status === 200, {
        timeoutMs: 300_000,
        intervalMs: 1_000,
        message: () => `${stage} ready; its log:\n${podman(['logs', '--tail=20', `emostream-${stage}`])}`,
      });
    }
    podman([
      'run',
      '--rm',
      '--network=host',
      '--read-only',
      '--cap-drop=ALL',
      '--env',
      `KAFKA_BROKERS=${kafkaBrokers()}`,
      '--env',
      `EMOSTREAM_TOPIC_PREFIX=${prefix}`,
      IMAGE,
      'streams',
      'add',
      'lobby',
      `/media/${CLIP}`,
    ]);

    const sampled = Array.from(
      { length: Math.ceil(CLIP_FRAMES / samplingStep(30000 / 1001)) },
      (_, i) => 1 + i * samplingStep(30000 / 1001),
    );
    await waitFor(() => events.some((e) => e.schema === 'emostream.event.track_summary.v2'), {
      timeoutMs: 300_000,
      intervalMs: 500,
      message: () =>
        `a track summary (${events.length} events so far); the stages' logs:\n` +
        STAGES.map((s) => `--- ${s}\n${podman(['logs', '--tail=10', `emostream-${s}`])}`).join('\n'),
    });

    const ajv = new Ajv2020({ allErrors: true, strict: false });
    const validate = ajv.compile(
      JSON.parse(readFileSync(path.join(ROOT, 'libs/shared/schemas/emotion-event.v2.schema.json'), 'utf8')) as object,
    );
    for (const event of events) assert.ok(validate(event), `schema-valid: ${JSON.stringify(event)}: ${ajv.errorsText(validate.errors)}`);
    const faces = events.filter((e) => e.schema === 'emostream.event.face.v2');
    assert.deepEqual(
      faces.map((e) => e.seq),
      sampled,
      'one face event per sampled frame of the single-face clip, in order',
    );
  });

  it("answers /healthz, /readyz and /metrics on every stage's ops port", async () => {
    for (const stage of STAGES) {
      const port = opsPorts.get(stage);
      assert.ok(port, `${stage} was started`);
      for (const probe of ['/healthz', '/readyz']) {
        const res = await fetch(`http://127.0.0.1:${port}${probe}`);
        assert.equal(res.status, 200, `${stage} ${probe}`);
      }
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      assert.match(metrics, /^emostream_/m, `${stage} /metrics has the project's metrics`);
    }
  });

  it('stops every stage cleanly on SIGTERM within its terminationGracePeriodSeconds', async () => {
    for (const stage of STAGES) {
      const name = `emostream-${stage}`;
      const seconds = grace.get(stage)!;
      const started = Date.now();
      // SIGTERM, then SIGKILL only after the grace period, as the kubelet does.
      await podmanAsync(['stop', `--time=${seconds}`, name]);
      const tookS = (Date.now() - started) / 1000;
      const exitCode = Number(podman(['inspect', '--format', '{{.State.ExitCode}}', name]).trim());
      assert.equal(
        exitCode,
        0,
        `${stage} exits 0 on SIGTERM (137 would be the SIGKILL after ${seconds} s); log:\n${podman(['logs', '--tail=20', name])}`,
      );
      assert.ok(tookS < seconds, `${stage} stopped in ${tookS.toFixed(1)} s, within ${seconds} s`);
      console.log(`${stage}: exit 0 ${tookS.toFixed(1)} s after SIGTERM (grace ${seconds} s)`);
    }
  });
});
