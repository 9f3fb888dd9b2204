/**
 * `npm run bench:reference` — `emo run` against a Python equivalent of the EMO-AffectNet authors' run.py.
 *
 * The reference (bench/reference/reference_run.py): TensorFlow-CPU Keras ResNet50 and LSTM as the
 * authors' get_models.py builds them (random seeded weights), MediaPipe face detection on every frame,
 * LSTM windows of 10 with step 5, one CSV. It runs in a virtual environment this script makes under
 * .cache/reference-venv from PyPI (bench/reference/requirements.txt; minutes, once).
 * `emo run`: the synthetic EMO-AffectNet pack (the same ResNet50 + LSTM, random weights) with the
 * default detectors, writing all its reports (CSV, events and the annotated video).
 *
 * Both on the 720p demo clip, interleaved (the order alternates every round) for BENCH_ROUNDS rounds
 * (default 3) after one untimed warm-up of each. Figures: the whole process's wall time (spawn to
 * exit) and the lead time each prints (the reference: from reading the video to the CSV, models
 * built inside it as the authors' script does; emo run: its summary's time for the input). Target:
 * emo run's whole-process wall ≤ 1/3 of the reference's. Not part of `npm test` or `npm run bench`.
 *
 * Writes bench/results/reference.json and the README block.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSyntheticPack } from '@emostream/models';
import { assembleDemoClip } from '@emostream/cli';
import { load, machine, median, resultsPath, timeProcess, updateReadme } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 1 / 3;
const work = path.join(root, '.cache', 'bench', 'reference');
const venv = path.join(root, '.cache', 'reference-venv');
const python = path.join(venv, 'bin', 'python');
const requirements = path.join(root, 'bench', 'reference', 'requirements.txt');
const script = path.join(root, 'bench', 'reference', 'reference_run.py');
const syntheticPack = path.join(root, '.cache', 'bench', 'synthetic');

/** Makes (or remakes, when the requirements changed) the reference's virtual environment from PyPI. */
function ensureVenv(): void {
  const wanted = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  const marker = path.join(venv, '.requirements-sha256');
  if (existsSync(marker) && readFileSync(marker, 'utf8') === wanted) return;
  const pythonCommand = process.env.BENCH_PYTHON ?? 'python3.11';
  console.log(
    `making ${path.relative(root, venv)} with ${pythonCommand} and installing ${path.relative(root, requirements)} from PyPI (minutes, once) …`,
  );
  const steps: [string, string[]][] = [
    [pythonCommand, ['-m', 'venv', '--clear', venv]],
    [path.join(venv, 'bin', 'pip'), ['install', '--progress-bar', 'off', '-r', requirements]],
  ];
  for (const [command, args] of steps) {
    const done = spawnSync(command, args, { stdio: 'inherit' });
    if (done.error || done.status !== 0)
      throw new Error(`${command} ${args.join(' ')} failed (${done.error?.message ?? `exit code ${done.status}`}): see its output above`);
  }
  writeFileSync(marker, wanted);
}

interface Run {
  side: 'reference' | 'emo run';
  round: number;
  wallSeconds: number;
  cpuSeconds: number | undefined;
  leadSeconds: number;
  load: string;
}

async function runReference(round: number): Promise<Run> {
  const out = path.join(work, 'reference-out');
  rmSync(out, { recursive: true, force: true });
  const loadBefore = load();
  const run = await timeProcess(python, [script, clip, out], { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' });
  const lead = /Lead time: ([\d.]+) s/.exec(run.stdout);
  if (!lead) throw new Error(`the reference printed no lead time:\n${run.stdout}\n${run.stderr}`);
  const rows = readFileSync(path.join(out, 'demo-clip.csv'), 'utf8').trim().split('\n').length - 1;
  if (rows !== 150) throw new Error(`the reference's CSV has ${rows} rows, not 150`);
  return report({
    side: 'reference',
    round,
    wallSeconds: run.wallSeconds,
    cpuSeconds: run.cpuSeconds,
    leadSeconds: Number(lead[1]),
    load: loadBefore,
  });
}

async function runEmo(round: number): Promise<Run> {
  const out = path.join(work, 'emo-out');
  rmSync(out, { recursive: true, force: true });
  const loadBefore = load();
  const run = await timeProcess(process.execPath, [emo, 'run', clip, '--pack', syntheticPack, '--out', out, '--json']);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { seconds: number; faces: number; reports: string[] };
  if (summary.faces === 0 || !summary.reports.some((r) => r.endsWith('.annotated.mp4')))
    throw new Error(`emo run found no face or wrote no annotated video: ${run.stdout}`);
  return report({
    side: 'emo run',
    round,
    wallSeconds: run.wallSeconds,
    cpuSeconds: run.cpuSeconds,
    leadSeconds: summary.seconds,
    load: loadBefore,
  });
}

function report(run: Run): Run {
  console.log(
    `round ${run.round} ${run.side.padEnd(9)}: ${run.wallSeconds.toFixed(1)} s wall, ${run.cpuSeconds?.toFixed(1) ?? '?'} CPU-s, lead time ${run.leadSeconds.toFixed(1)} s, load ${run.load}`,
  );
  return run;
}

mkdirSync(work, { recursive: true });
ensureVenv();
const clip = path.join(work, 'demo-clip.mp4');
assembleDemoClip(clip);
if (!existsSync(path.join(syntheticPack, 'manifest.json'))) await buildSyntheticPack(syntheticPack);

console.log(`the reference and emo run on the 720p demo clip, ${ROUNDS} rounds interleaved (+1 warm-up each) …`);
await runReference(0);
await runEmo(0);
const runs: Run[] = [];
for (let round = 1; round <= ROUNDS; round += 1) {
  // Alternate which goes first, so a drift in the machine's load does not favour one side.
  const order = round % 2 ? [runEmo, runReference] : [runReference, runEmo];
  for (const run of order) runs.push(await run(round));
}
const of = (side: Run['side'], pick: (r: Run) => number) => median(runs.filter((r) => r.side === side).map(pick));
const wallRatio = of('emo run', (r) => r.wallSeconds) / of('reference', (r) => r.wallSeconds);
const cpuRatio = of('emo run', (r) => r.cpuSeconds ?? NaN) / of('reference', (r) => r.cpuSeconds ?? NaN);
const leadRatio = of('emo run', (r) => r.leadSeconds) / of('reference', (r) => r.leadSeconds);
const pass = wallRatio <= TARGET;
const versions = spawnSync(python, ['-c', 'import tensorflow as t, mediapipe as m; print(t.__version__, m.__version__)'], {
  encoding: 'utf8',
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
})
  .stdout.trim()
  .split(' ');
const result = {
  benchmark: 'reference',
  date: new Date().toISOString(),
  machine: machine(),
  clip: '1280×720, 25 fps, 150 frames (the demo clip)',
  reference: `TensorFlow-CPU ${versions[0]} Keras ResNet50 + LSTM (random weights), MediaPipe ${versions[1]} face detection every frame`,
  emoRun: 'synthetic EMO-AffectNet pack (ResNet50 + LSTM, random weights), default detectors, all reports',
  target: 'emo run whole-process wall ≤ 1/3 of the reference',
  median: {
    reference: {
      wallSeconds: of('reference', (r) => r.wallSeconds),
      cpuSeconds: of('reference', (r) => r.cpuSeconds ?? NaN),
      leadSeconds: of('reference', (r) => r.leadSeconds),
    },
    emoRun: {
      wallSeconds: of('emo run', (r) => r.wallSeconds),
      cpuSeconds: of('emo run', (r) => r.cpuSeconds ?? NaN),
      leadSeconds: of('emo run', (r) => r.leadSeconds),
    },
  },
  wallRatio,
  cpuRatio,
  leadRatio,
  pass,
  runs,
};
writeFileSync(resultsPath('reference.json'), `${JSON.stringify(result, null, 2)}\n`);
const verdict = pass
  ? `**met** (${wallRatio.toFixed(2)})`
  : `**not met**: emo run takes ${wallRatio.toFixed(2)} of the reference's wall time, ${(wallRatio / TARGET).toFixed(1)}× the target`;
updateReadme(
  'reference',
  [
    `The 720p demo clip (1280×720, 25 fps, 150 frames), median of ${ROUNDS} interleaved rounds after a warm-up of each; ${result.machine}, **shared with other jobs** (load averages per run in \`bench/results/reference.json\`); ${result.date.slice(0, 10)}.`,
    '',
    '| run | whole-process wall s | CPU-s, process and children | lead time s (printed) |',
    '|---|---:|---:|---:|',
    `| reference: ${result.reference} | ${result.median.reference.wallSeconds.toFixed(1)} | ${result.median.reference.cpuSeconds.toFixed(1)} | ${result.median.reference.leadSeconds.toFixed(1)} |`,
    `| \`emo run\`: ${result.emoRun} | ${result.median.emoRun.wallSeconds.toFixed(1)} | ${result.median.emoRun.cpuSeconds.toFixed(1)} | ${result.median.emoRun.leadSeconds.toFixed(1)} |`,
    `| emo run / reference | ${wallRatio.toFixed(2)} | ${cpuRatio.toFixed(2)} | ${leadRatio.toFixed(2)} |`,
    '',
    `Target: emo run's wall ≤ 1/3 of the reference's — ${verdict}.`,
  ].join('\n'),
);
console.log(
  `emo run / reference, whole-process wall: ${wallRatio.toFixed(2)} (target ≤ 0.33: ${pass ? 'met' : 'NOT met'}); wrote ${resultsPath('reference.json')}`,
);
