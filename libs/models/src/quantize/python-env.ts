// The Python side of `emo models quantize` and scripts/gpu-check.sh's fp16 backbone: onnxruntime's
// own quantizer (no JavaScript library quantizes ONNX graphs statically), run from a virtual
// environment made once under .cache/quantize-venv from PyPI with the pinned
// libs/models/quantize/requirements.txt, and remade when that file changes. Every missing piece
// (no Python, no venv module, pip failing) stops the command with what to install.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageDir, processSettings } from '@emostream/shared';

const PACKAGE_DIR = packageDir(import.meta.url);
/** `.cache/quantize-venv` at the repository root (git-ignored), whatever the working directory. */
export const QUANTIZE_VENV_DIR = resolve(PACKAGE_DIR, '../../.cache/quantize-venv');
export const QUANTIZE_REQUIREMENTS = join(PACKAGE_DIR, 'quantize', 'requirements.txt');
export const CONVERT_SCRIPT = join(PACKAGE_DIR, 'quantize', 'convert_backbone.py');
const MARKER = '.requirements-sha256';

/** The interpreter the environment is made with: EMOSTREAM_PYTHON (a process setting), else python3. */
function basePython(): string {
  return processSettings().python;
}

/**
 * Makes the environment unless one made from the same requirements is there; returns its python.
 * It is built beside the final folder and renamed into place, so an interrupted install never
 * leaves a half-made environment that looks ready.
 */
export function ensureQuantizeVenv(log: (line: string) => void = () => {}, dir = QUANTIZE_VENV_DIR): string {
  const python = join(dir, 'bin', 'python');
  const wanted = createHash('sha256').update(readFileSync(QUANTIZE_REQUIREMENTS)).digest('hex');
  const marker = join(dir, MARKER);
  if (existsSync(python) && existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return python;

  const base = basePython();
  const probe = spawnSync(base, ['-c', 'import sys, venv, ensurepip; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `quantizing needs Python 3 with its venv and ensurepip modules (onnxruntime's quantizer runs in it), and ${base} ` +
        `${probe.error ? `cannot be run (${probe.error.message})` : `failed: ${(probe.stderr || probe.stdout).trim()}`}; ` +
        `install it (Debian: apt-get install python3 python3-venv) or point EMOSTREAM_PYTHON at one`,
    );
  }
  log(`making ${dir} with ${base} (Python ${probe.stdout.trim()}) and installing ${QUANTIZE_REQUIREMENTS} from PyPI (once) …`);
  const building = `${dir}.tmp-${process.pid}`;
  rmSync(building, { recursive: true, force: true });
  try {
    run(base, ['-m', 'venv', building]);
    run(join(building, 'bin', 'python'), ['-m', 'pip', 'install', '--progress-bar', 'off', '--quiet', '-r', QUANTIZE_REQUIREMENTS]);
    writeFileSync(join(building, MARKER), wanted);
    rmSync(dir, { recursive: true, force: true });
    renameSync(building, dir);
  } catch (error) {
    rmSync(building, { recursive: true, force: true });
    throw error;
  }
  return python;
}

function run(command: string, args: string[]): void {
  const done = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (done.error || done.status !== 0) {
    const output = `${done.stdout ?? ''}${done.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`${command} ${args.join(' ')} failed (${done.error?.message ?? `exit code ${done.status}`}):\n${output}`);
  }
}

/** Runs convert_backbone.py in the environment; returns its last line (what it wrote); fails with the script's own words. */
export function runConvertScript(python: string, args: string[]): string {
  const done = spawnSync(python, [CONVERT_SCRIPT, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (done.error || done.status !== 0) {
    const output = `${done.stdout ?? ''}${done.stderr ?? ''}`.trim().split('\n').slice(-20).join('\n');
    throw new Error(`${CONVERT_SCRIPT} ${args.join(' ')} failed (${done.error?.message ?? `exit code ${done.status}`}):\n${output}`);
  }
  return done.stdout.trim().split('\n').at(-1) ?? '';
}
