/**
 * `npm run bench:reference` — `emo run` against a Python equivalent of the EMO-AffectNet authors' run.py,
 * like for like.
 *
 * The reference (bench/reference/reference_run.py): TensorFlow-CPU Keras ResNet50 and LSTM as the
 * authors' get_models.py builds them (random seeded weights), MediaPipe face detection, LSTM windows
 * of 10 with step 5, CSVs. It runs in a virtual environment this script makes under
 * .cache/reference-venv from PyPI (bench/reference/requirements.txt; minutes, once). It prints its
 * imports' time (TensorFlow, MediaPipe) apart from its lead time, and the table shows both.
 *
 * Two pairs, each on one clip for both sides, so each pair does the same work:
 * - **every face** (emo run's work) on the 720p demo clip (several faces a frame): the reference
 *   detects on the sampled frames only and embeds every face it finds (`--faces every`);
 * - **one face** (the reference's work) on a 720p clip with one face a frame (a CREMA-D clip of the
 *   repository's test media, scaled up): the reference as the authors' run.py works, detecting on
 *   every frame and keeping the most confident face (`--faces one`); emo run then embeds one face a
 *   frame too, as there is one.
 * `emo run` runs each clip with the default pack (its expression model) and with the synthetic
 * EMO-AffectNet pack (the ResNet50 + LSTM the reference runs, random weights), writing all its
 * reports (CSV, events and the annotated video); BENCH_EXTRA_PACKS=<pack,…> adds rows (e.g. an int8
 * pack from `emo models quantize`).
 *
 * Every run of a round is interleaved (the order rotates every round, so a drift in the machine's
 * load favours no side) for BENCH_ROUNDS rounds (default 5) after one untimed warm-up of each
 * (BENCH_WARMUP=0: none, for a smoke run).
 * Figures: the whole process's wall time (spawn to exit), CPU time, the reference's import time,
 * the lead time each prints and the faces each embedded. Target: emo run (default pack)'s
 * whole-process wall ≤ 1/3 of the reference's, in each pair. Not part of `npm test` or `npm run bench`.
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
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const TARGET = 1 / 3;
const work = path.join(root, '.cache', 'bench', 'reference');
const venv = path.join(root, '.cache', 'reference-venv');
const python = path.join(venv, 'bin', 'python');
const requirements = path.join(root, 'bench', 'reference', 'requirements.txt');
const script = path.join(root, 'bench', 'reference', 'reference_run.py');
const syntheticPack = path.join(root, '.cache', 'bench', 'synthetic');
const ONE_FACE_SOURCE = path.join(root, 'test', 'media', 'labelled', 'cremad_1001_DFA_happy.flv');

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
    [path.join(venv, 'bin', 'python'), ['-m', 'pip', 'install', '--progress-bar', 'off', '-r', requirements]],
  ];
  for (const [command, args] of steps) {
    const done = spawnSync(command, args, { stdio: 'inherit' });
    if (done.error || done.status !== 0)
      throw new Error(`${command} ${args.join(' ')} failed (${done.error?.message ?? `exit code ${done.status}`}): see its output above`);
  }
  writeFileSync(marker, wanted);
}

/** The one-face clip: a CREMA-D clip (ODbL, test/media) scaled and padded to 1280×720, H.264, no audio. */
function makeOneFaceClip(clip: string): void {
  const made = spawnSync(
    'ffmpeg',
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-i',
      ONE_FACE_SOURCE,
      '-an',
      '-vf',
      'scale=-2:720,pad=1280:720:(ow-iw)/2:0,setsar=1',
      '-pix_fmt',
      'yuv420p',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      clip,
    ],
    { encoding: 'utf8' },
  );
  if (made.error || made.status !== 0) throw new Error(`ffmpeg could not make ${clip}: ${made.error?.message ?? made.stderr}`);
}

type Pair = 'every face' | 'one face';
interface Side {
  readonly pair: Pair;
  readonly name: string;
  readonly isReference: boolean;
  run(round: number): Promise<Run>;
}
interface Run {
  pair: Pair;
  side: string;
  round: number;
  wallSeconds: number;
  cpuSeconds: number | undefined;
  importSeconds: number | undefined;
  leadSeconds: number;
  faces: number;
  load: string;
}

function referenceSide(pair: Pair, clip: string): Side {
  const faces = pair === 'every face' ? 'every' : 'one';
  const name = `reference (${pair === 'every face' ? 'every face, detection on the sampled frames' : 'one face a frame, detection on every frame, as run.py'})`;
  return {
    pair,
    name,
    isReference: true,
    async run(round) {
      const out = path.join(work, `reference-out-${faces}`);
      rmSync(out, { recursive: true, force: true });
      const loadBefore = load();
      const run = await timeProcess(python, [script, '--faces', faces, clip, out], { ...process.env, TF_CPP_MIN_LOG_LEVEL: '2' });
      const printed = /(\d+) faces of (\d+) frames .*Import time: ([\d.]+) s; Lead time: ([\d.]+) s/.exec(run.stdout);
      if (!printed) throw new Error(`the reference printed no faces, import or lead time:\n${run.stdout}\n${run.stderr}`);
      const rows =
        readFileSync(path.join(out, `${path.parse(clip).name}.csv`), 'utf8')
          .trim()
          .split('\n').length - 1;
      if (rows !== Number(printed[2])) throw new Error(`the reference's CSV has ${rows} rows, not the clip's ${printed[2]} frames`);
      return report({
        pair,
        side: name,
        round,
        wallSeconds: run.wallSeconds,
        cpuSeconds: run.cpuSeconds,
        importSeconds: Number(printed[3]),
        leadSeconds: Number(printed[4]),
        faces: Number(printed[1]),
        load: loadBefore,
      });
    },
  };
}

function emoSide(pair: Pair, clip: string, pack: string, label: string): Side {
  const name = `emo run, ${label}`;
  return {
    pair,
    name,
    isReference: false,
    async run(round) {
      const out = path.join(work, 'emo-out');
      rmSync(out, { recursive: true, force: true });
      const loadBefore = load();
      const run = await timeProcess(process.execPath, [emo, 'run', clip, '--pack', pack, '--out', out, '--json']);
      const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { seconds: number; faces: number; reports: string[] };
      if (summary.faces === 0 || !summary.reports.some((r) => r.endsWith('.annotated.mp4')))
        throw new Error(`emo run found no face or wrote no annotated video: ${run.stdout}`);
      return report({
        pair,
        side: name,
        round,
        wallSeconds: run.wallSeconds,
        cpuSeconds: run.cpuSeconds,
        importSeconds: undefined,
        leadSeconds: summary.seconds,
        faces: summary.faces,
        load: loadBefore,
      });
    },
  };
}

function report(run: Run): Run {
  console.log(
    `round ${run.round} ${run.pair} · ${run.side}: ${run.wallSeconds.toFixed(1)} s wall, ${run.cpuSeconds?.toFixed(1) ?? '?'} CPU-s, ` +
      `${run.importSeconds === undefined ? '' : `imports ${run.importSeconds.toFixed(1)} s, `}lead time ${run.leadSeconds.toFixed(1)} s, ${run.faces} faces, load ${run.load}`,
  );
  return run;
}

mkdirSync(work, { recursive: true });
ensureVenv();
const demoClip = path.join(work, 'demo-clip.mp4');
assembleDemoClip(demoClip);
const oneFaceClip = path.join(work, 'one-face-clip.mp4');
makeOneFaceClip(oneFaceClip);
if (!existsSync(path.join(syntheticPack, 'manifest.json'))) await buildSyntheticPack(syntheticPack);
const packs: [string, string][] = [
  ['default', 'default pack'],
  [syntheticPack, 'synthetic pack (EMO-AffectNet ResNet50 + LSTM, random weights)'],
  ...(process.env.BENCH_EXTRA_PACKS ?? '')
    .split(',')
    .filter(Boolean)
    .map((p): [string, string] => [p, `pack ${p}`]),
];
const clips: [Pair, string][] = [
  ['every face', demoClip],
  ['one face', oneFaceClip],
];
const sides: Side[] = clips.flatMap(([pair, clip]) => [
  referenceSide(pair, clip),
  ...packs.map(([pack, label]) => emoSide(pair, clip, pack, label)),
]);

// BENCH_WARMUP=0 skips the warm-ups (a smoke run that the bench works, not a measurement).
const warmUp = process.env.BENCH_WARMUP !== '0';
console.log(`${sides.length} runs a round, ${ROUNDS} rounds interleaved (${warmUp ? '+1 warm-up each' : 'no warm-up'}) on ${machine()} …`);
if (warmUp) for (const side of sides) await side.run(0);
const runs: Run[] = [];
for (let round = 1; round <= ROUNDS; round += 1) {
  // Rotate the order every round, so a drift in the machine's load does not favour one side.
  for (let i = 0; i < sides.length; i++) runs.push(await sides[(i + round) % sides.length]!.run(round));
}
const medianOf = (side: Side, pick: (r: Run) => number) =>
  median(runs.filter((r) => r.pair === side.pair && r.side === side.name).map(pick));
const versions = spawnSync(python, ['-c', 'import tensorflow as t, mediapipe as m; print(t.__version__, m.__version__)'], {
  encoding: 'utf8',
  env: { ...process.env, TF_CPP_MIN_LOG_LEVEL: '3' },
})
  .stdout.trim()
  .split(' ');
const rows = sides.map((side) => {
  const reference = sides.find((s) => s.pair === side.pair && s.isReference)!;
  const wall = medianOf(side, (r) => r.wallSeconds);
  return {
    pair: side.pair,
    side: side.name,
    wallSeconds: wall,
    cpuSeconds: medianOf(side, (r) => r.cpuSeconds ?? NaN),
    importSeconds: side.isReference ? medianOf(side, (r) => r.importSeconds ?? NaN) : undefined,
    leadSeconds: medianOf(side, (r) => r.leadSeconds),
    faces: medianOf(side, (r) => r.faces),
    wallRatio: wall / medianOf(reference, (r) => r.wallSeconds),
    // The median of the per-round ratios too: on a shared machine it moves less than the ratio of medians.
    medianRoundRatio: median(
      runs
        .filter((r) => r.pair === side.pair && r.side === side.name)
        .map(
          (r) => r.wallSeconds / runs.find((x) => x.round === r.round && x.pair === side.pair && x.side === reference.name)!.wallSeconds,
        ),
    ),
  };
});
const targetRows = rows.filter((r) => r.side === 'emo run, default pack');
// Both ratios, as bench:annotate judges: the reference's rounds here are bimodal (~12 s or ~17 s for
// the demo clip), and a ratio of medians that only its slow rounds bring under the target is no pass.
const pass = targetRows.every((r) => r.wallRatio <= TARGET && r.medianRoundRatio <= TARGET);
const result = {
  benchmark: 'reference',
  date: new Date().toISOString(),
  machine: machine(),
  clips: {
    'every face': '1280×720, 25 fps, 150 frames (the demo clip: several faces a frame)',
    'one face': `1280×720 (scaled up and padded), 29.97 fps (${path.relative(root, ONE_FACE_SOURCE)}: one face a frame)`,
  },
  reference: `TensorFlow-CPU ${versions[0]} Keras ResNet50 + LSTM (random weights), MediaPipe ${versions[1]} face detection`,
  target: 'emo run (default pack, annotated video) whole-process wall ≤ 1/3 of the reference, in each pair',
  rounds: ROUNDS,
  rows,
  pass,
  runs,
};
writeFileSync(resultsPath('reference.json'), `${JSON.stringify(result, null, 2)}\n`);
const f = (x: number | undefined, digits = 1) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
updateReadme(
  'reference',
  [
    `Median of ${ROUNDS} interleaved rounds ${warmUp ? 'after a warm-up of each' : 'without warm-ups (a smoke run)'}; ${result.machine}; reference: ${result.reference}; ${result.date.slice(0, 10)}. Load averages per run in \`bench/results/reference.json\`: on a shared machine, compare rows of one run only.`,
    '',
    '| clip · work | run | whole-process wall s | CPU-s | reference imports s | lead time s | faces embedded | wall / reference (median round) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.pair === 'every face' ? 'demo clip · every face' : 'one-face clip · one face a frame'} | ${r.side} | ${f(r.wallSeconds)} | ${f(r.cpuSeconds)} | ${f(r.importSeconds)} | ${f(r.leadSeconds)} | ${f(r.faces, 0)} | ${f(r.wallRatio, 2)} (${f(r.medianRoundRatio, 2)}) |`,
    ),
    '',
    `Target: emo run's wall (default pack, annotated video) ≤ 1/3 of the reference's in each pair, by the ratio of the medians and by the median round — ${pass ? '**met**' : '**not met**'} (${targetRows.map((r) => `${r.pair}: ${r.wallRatio.toFixed(2)} and ${r.medianRoundRatio.toFixed(2)}`).join(', ')}).`,
  ].join('\n'),
);
console.log(
  `emo run (default pack) / reference, whole-process wall: ${targetRows.map((r) => `${r.pair} ${r.wallRatio.toFixed(2)} (median round ${r.medianRoundRatio.toFixed(2)})`).join(', ')} (target ≤ 0.33 by both: ${pass ? 'met' : 'NOT met'}); wrote ${resultsPath('reference.json')}`,
);
