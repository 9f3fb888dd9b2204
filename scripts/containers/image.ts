/**
 * Builds the CPU image exactly as a user would (`deploy/docker/Dockerfile`, unchanged, only NODE_IMAGE
 * overridden) with podman on the base image `base-image.sh` makes from Debian's packages and the npm
 * registry's Node, and says where its bytes go. Used by `npm run test:containers`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERE = path.join(ROOT, 'scripts', 'containers');
export const IMAGE = 'localhost/emostream:test';
/** The budget for the CPU image, in podman's (decimal) megabytes. */
export const IMAGE_BUDGET_BYTES = 700e6;

/** podman with this project's engine settings (runc, cgroupfs, ulimits a sandbox may set: containers.conf). */
export const PODMAN_ENV = { ...process.env, CONTAINERS_CONF: path.join(HERE, 'containers.conf') };

export function podman(args: string[], options: { input?: string } = {}): string {
  return execFileSync('podman', args, { env: PODMAN_ENV, encoding: 'utf8', maxBuffer: 64 << 20, input: options.input });
}

/** Makes the base image when missing (about 40 s) and returns its name. */
export function baseImage(): string {
  const made = spawnSync('bash', [path.join(HERE, 'base-image.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (made.status !== 0) throw new Error(`scripts/containers/base-image.sh failed (exit ${made.status})`);
  return made.stdout.trim().split('\n').at(-1)!;
}

/**
 * `podman build` of deploy/docker/Dockerfile. A machine whose HTTPS goes through an inspecting proxy
 * (NODE_EXTRA_CA_CERTS set, as on this project's CI machines) hands its CA bundle to npm as a build
 * secret: it is never written into a layer.
 */
export function buildImage(nodeImage: string): void {
  const ca = process.env.NODE_EXTRA_CA_CERTS;
  const args = [
    'build',
    '--network=host',
    '--build-arg',
    `NODE_IMAGE=${nodeImage}`,
    ...(ca ? ['--secret', `id=ca-certificates,src=${ca}`] : []),
    '-f',
    path.join(ROOT, 'deploy', 'docker', 'Dockerfile'),
    '-t',
    IMAGE,
    ROOT,
  ];
  const built = spawnSync('podman', args, { env: PODMAN_ENV, stdio: ['ignore', 'inherit', 'inherit'] });
  if (built.status !== 0) throw new Error(`podman build of deploy/docker/Dockerfile failed (exit ${built.status})`);
}

interface HistoryEntry {
  id: string;
  CreatedBy?: string;
  size: number;
}

export interface ImageSizes {
  total: number;
  parts: { name: string; bytes: number }[];
}

/**
 * The image's bytes by part: the base image's layers, then each layer the Dockerfile's runtime stage adds
 * (the apt layer, node_modules, the application, the rest), from `podman history`.
 */
export function imageSizes(image: string, base: string): ImageSizes {
  const history = (name: string) => JSON.parse(podman(['history', '--format', 'json', name])) as HistoryEntry[];
  const own = history(image);
  const baseLayers = history(base).length;
  const added = own.slice(0, own.length - baseLayers).reverse();
  const baseBytes = own.slice(own.length - baseLayers).reduce((sum, l) => sum + l.size, 0);
  const named = (l: HistoryEntry): string => {
    const by = l.CreatedBy ?? '';
    if (/apt-get install/.test(by)) return 'apt (ffmpeg, fonts, tini)';
    if (/COPY/.test(by)) return 'COPY';
    return 'other';
  };
  const parts = [{ name: 'base (Debian minbase + Node)', bytes: baseBytes }];
  let copies = 0;
  for (const layer of added) {
    let name = named(layer);
    if (name === 'COPY') name = ['node_modules', 'application (compiled code, model pack)'][copies++] ?? 'COPY';
    const existing = parts.find((p) => p.name === name);
    if (existing) existing.bytes += layer.size;
    else parts.push({ name, bytes: layer.size });
  }
  return { total: parts.reduce((sum, p) => sum + p.bytes, 0), parts };
}

export const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(0)} MB`;

export function formatSizes(sizes: ImageSizes): string {
  return [
    ...sizes.parts.filter((p) => p.bytes > 0).map((p) => `  ${p.name.padEnd(42)} ${megabytes(p.bytes).padStart(8)}`),
    `  ${'total'.padEnd(42)} ${megabytes(sizes.total).padStart(8)} (budget ${megabytes(IMAGE_BUDGET_BYTES)})`,
  ].join('\n');
}
