/**
 * `npm run bench:annotate` — what the annotated video adds to `emo run`.
 *
 * `emo run` (default packs, as a user runs it) on the 720p demo clip (1280×720, 25 fps, 6 s, 150
 * frames, 3–4 faces a frame), with its annotated video and with `--no-video`, interleaved (the order
 * alternates every round) for BENCH_ROUNDS rounds (default 3) after one untimed warm-up of each.
 * Each figure is the whole process's wall time, spawn to exit. Target: with / without ≤ 1.15.
 *
 * Writes bench/results/annotate.json and the README block.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { assembleDemoClip } from '@emostream/cli';
import { load, machine, median, resultsPath, timeProcess, updateReadme } from './report.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const emo = path.join(root, 'cli', 'bin', 'emo.mjs');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const TARGET = 1.15;
const work = path.join(root, '.cache', 'bench', 'annotate');
const clip = path.join(work, 'demo-clip.mp4');
mkdirSync(work, { recursive: true });
assembleDemoClip(clip);

interface Run {
  video: boolean;
  round: number;
  wallSeconds: number;
  /** User + system CPU seconds of emo run and its ffmpegs (when GNU time is installed). */
  cpuSeconds: number | undefined;
  /** What emo run's summary printed for the input (its own timer, from reading to the reports). */
  inputSeconds: number;
  load: string;
}

async function runEmo(video: boolean, round: number): Promise<Run> {
  const out = path.join(work, video ? 'with-video' : 'no-video');
  rmSync(out, { recursive: true, force: true });
  const loadBefore = load();
  const run = await timeProcess(process.execPath, [emo, 'run', clip, '--out', out, '--json', ...(video ? [] : ['--no-video'])]);
  const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { seconds: number; reports: string[]; faces: number };
  const annotated = summary.reports.find((r) => r.endsWith('.annotated.mp4'));
  if (video !== Boolean(annotated))
    throw new Error(`emo run ${video ? 'wrote no' : 'wrote an'} annotated video: ${summary.reports.join(', ')}`);
  if (annotated && frameCount(annotated) !== 150) throw new Error(`${annotated} has ${frameCount(annotated)} frames, not 150`);
  if (summary.faces === 0) throw new Error('emo run found no face in the demo clip');
  const row = { video, round, wallSeconds: run.wallSeconds, cpuSeconds: run.cpuSeconds, inputSeconds: summary.seconds, load: loadBefore };
  console.log(
    `round ${round} ${video ? 'with video' : 'no video  '}: ${row.wallSeconds.toFixed(1)} s wall, ${row.cpuSeconds?.toFixed(1) ?? '?'} CPU-s (input ${row.inputSeconds.toFixed(1)} s), load ${loadBefore}`,
  );
  return row;
}

function frameCount(video: string): number {
  const probe = spawnSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', video],
    { encoding: 'utf8' },
  );
  return Number(probe.stdout.trim());
}

console.log(`emo run on ${path.relative(root, clip)} with and without the annotated video, ${ROUNDS} rounds interleaved (+1 warm-up) …`);
await runEmo(true, 0);
await runEmo(false, 0);
const runs: Run[] = [];
for (let round = 1; round <= ROUNDS; round += 1) {
  // Alternate which goes first, so a drift in the machine's load does not favour one side.
  const order = round % 2 ? [true, false] : [false, true];
  for (const video of order) runs.push(await runEmo(video, round));
}
const wall = (video: boolean) => median(runs.filter((r) => r.video === video).map((r) => r.wallSeconds));
const perRound = Array.from({ length: ROUNDS }, (_, i) => {
  const pair = runs.filter((r) => r.round === i + 1);
  return pair.find((r) => r.video)!.wallSeconds / pair.find((r) => !r.video)!.wallSeconds;
});
const ratio = wall(true) / wall(false);
const cpu = (video: boolean) => median(runs.filter((r) => r.video === video).map((r) => r.cpuSeconds ?? NaN));
const cpuRatio = cpu(true) / cpu(false);
// Met only when both the ratio of the medians and the median of the per-round ratios are: on a shared
// machine one lucky or unlucky run moves either, and a verdict that one of them alone gives is noise.
const pass = ratio <= TARGET && median(perRound) <= TARGET;
const report = {
  benchmark: 'annotate',
  date: new Date().toISOString(),
  machine: machine(),
  clip: '1280×720, 25 fps, 150 frames (the demo clip)',
  target: `with video / without ≤ ${TARGET}`,
  medianWallSeconds: { withVideo: wall(true), withoutVideo: wall(false) },
  ratio,
  medianCpuSeconds: { withVideo: cpu(true), withoutVideo: cpu(false) },
  cpuRatio,
  perRoundRatios: perRound,
  pass,
  runs,
};
writeFileSync(resultsPath('annotate.json'), `${JSON.stringify(report, null, 2)}\n`);
updateReadme(
  'annotate',
  [
    `\`emo run\` (default packs) on the 720p demo clip (1280×720, 25 fps, 150 frames), whole-process wall time, median of ${ROUNDS} interleaved rounds after a warm-up; ${report.machine}, **shared with other jobs** (load averages per run in \`bench/results/annotate.json\`); ${report.date.slice(0, 10)}.`,
    '',
    '| run | wall s (median) | × without | CPU-s, process and children (median) | × without |',
    '|---|---:|---:|---:|---:|',
    `| \`emo run\` --no-video | ${wall(false).toFixed(1)} | 1.00 | ${cpu(false).toFixed(1)} | 1.00 |`,
    `| \`emo run\` (annotated video) | ${wall(true).toFixed(1)} | ${ratio.toFixed(2)} | ${cpu(true).toFixed(1)} | ${cpuRatio.toFixed(2)} |`,
    '',
    `Wall-time ratio per round: ${perRound.map((r) => r.toFixed(2)).join(', ')} (median ${median(perRound).toFixed(2)}). Target (wall) ≤ ${TARGET}, by the ratio of the medians and by the median round: **${pass ? 'met' : 'not met'}**. The CPU time, steadier on a shared machine, says what the video costs: ${((cpuRatio - 1) * 100).toFixed(0)} % more; the wall time grows less because the stages leave part of the 2 cores idle.`,
  ].join('\n'),
);
console.log(
  `with / without the annotated video: ${ratio.toFixed(2)} (target ≤ ${TARGET}: ${pass ? 'met' : 'NOT met'}); wrote ${resultsPath('annotate.json')}`,
);
