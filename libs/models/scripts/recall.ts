// `npm run recall`: measures face-detection recall of each detector and detection mode of the
// default pack on ../shared/data, and the crowd photos of test/media/crowds against the seed's
// RetinaFace, and writes libs/models/RECALL.md. Recall per frame is
// min(boxes found, faces present) / faces present: the media have face counts, not face boxes,
// so boxes beyond the count are reported separately ("extra") rather than credited.
// Every mode detects through modeDetector, the face stage's own detection path.
// `npm run recall -- --crowds` measures the crowd photos only and prints their table (RECALL.md unchanged).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEFAULT_MIN_FACE_SIZE,
  modeDetector,
  ModelSession,
  sessionDetector,
  type Detection,
  type DetectorModel,
  type ModePass,
  type RgbImage,
  type TilingOptions,
} from '@emostream/vision';
import { buildDefaultPack, DEFAULT_MODE, RETINAFACE_FACE_SIZE_TILING, RETINAFACE_FACE_SIZE_WHOLE, RETINAFACE_TO_SSD_BOX, SMALL_FRAME_SIDE, COARSE_SIDE } from '../src/default-pack.js';
import sharp from 'sharp';
import { decodeImage, decodeVideo } from '../src/media.js';
import { MEDIA_CASES, sampledFrames, VIDEO_STEP, type MediaCase } from './test-media.js';

export interface Mode {
  name: string;
  passes: (Omit<ModePass, 'model'> & { detector: string; minScore?: number })[];
}

/** BlazeFace also on a 3 × 2 grid of tiles overlapping by a quarter, keeping tile boxes > 0.75. */
export const TILING: TilingOptions = { columns: 3, rows: 2, overlap: 0.25, minScore: 0.75 };

export const MODES: readonly Mode[] = [
  { name: 'ssd', passes: [{ detector: 'ssd' }] },
  { name: 'tiny', passes: [{ detector: 'tiny' }] },
  { name: 'blazeface', passes: [{ detector: 'blazeface' }] },
  { name: 'fused', passes: [{ detector: 'ssd' }, { detector: 'blazeface' }] },
  { name: 'blazeface+tiled', passes: [{ detector: 'blazeface', tiling: TILING }] },
  { name: 'fused+tiled', passes: [{ detector: 'ssd' }, { detector: 'blazeface', tiling: TILING }] },
  { name: 'retinaface', passes: [{ detector: 'retinaface' }] },
  { name: 'ssd+retinaface', passes: [{ detector: 'ssd' }, { detector: 'retinaface' }] },
  { name: 'retinaface@size', passes: [{ detector: 'retinaface', faceSizeTiling: RETINAFACE_FACE_SIZE_TILING }] },
  { name: 'ssd0.7+retinaface@size', passes: [{ detector: 'ssd', minScore: 0.7 }, { detector: 'retinaface', faceSizeTiling: RETINAFACE_FACE_SIZE_TILING }] },
  { name: 'retinaface@whole', passes: [{ detector: 'retinaface', faceSizeWhole: RETINAFACE_FACE_SIZE_WHOLE }] },
  { name: 'ssd0.7+retinaface@whole', passes: [{ detector: 'ssd', minScore: 0.7 }, { detector: 'retinaface', faceSizeWhole: RETINAFACE_FACE_SIZE_WHOLE }] },
  // The frame enlarged 1.6×: RetinaFace's smallest anchor (16 px) brought to FACE_MIN_SIZE (10).
  { name: 'retinaface@whole×1.6', passes: [{ detector: 'retinaface', faceSizeWhole: { smallestFace: 16 } }] },
  { name: 'retinaface@whole+ssdbox', passes: [{ detector: 'retinaface', faceSizeWhole: RETINAFACE_FACE_SIZE_WHOLE, boxTransform: RETINAFACE_TO_SSD_BOX }] },
  DEFAULT_MODE,
];
/** The modes of the media table: the whole-frame variants measured on the crowds only (where they differ) are left out. */
export const MEDIA_MODES: readonly Mode[] = MODES.filter(
  (m) => !['retinaface@whole×1.6', 'retinaface@whole', 'fused+tiled', 'ssd+retinaface', 'retinaface@size'].includes(m.name),
);
if (!MODES.some((m) => m.name === DEFAULT_MODE.name)) throw new Error(`the default mode ${DEFAULT_MODE.name} is not among the measured modes`);

/** The modes measured on the crowd photos (the SSD and BlazeFace modes are much slower there, or blind). */
export const CROWD_MODES: readonly string[] = [
  'fused', 'retinaface', 'ssd0.7+retinaface@size', 'ssd0.7+retinaface@whole', 'retinaface@whole×1.6', 'retinaface@whole+ssdbox', DEFAULT_MODE.name,
];

/** Timed rounds per photo and mode, modes interleaved (alternating order) so a busy machine slows them alike; the median is reported. */
export const TIMED_ROUNDS = 3;

/**
 * Faces found and median time of each mode on each image: one warm-up call per mode, then
 * TIMED_ROUNDS rounds over the modes, in alternating order (the cores may be shared: interleaving
 * spreads a busy spell over every mode instead of one).
 */
async function timeModes(models: Map<string, DetectorModel>, modes: readonly Mode[], image: RgbImage): Promise<Map<string, { faces: number; ms: number }>> {
  const times = new Map<string, number[]>(modes.map((m) => [m.name, []]));
  const faces = new Map<string, number>();
  for (const mode of modes) faces.set(mode.name, (await detectWith(models, mode, image)).length); // warm: the first call of a size pays for its buffers
  for (let round = 0; round < TIMED_ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? modes : [...modes].reverse()) {
      const started = performance.now();
      const n = (await detectWith(models, mode, image)).length;
      times.get(mode.name)!.push(performance.now() - started);
      if (n !== faces.get(mode.name)) throw new Error(`${mode.name}: ${n} faces, ${faces.get(mode.name)} the first time: detection must be deterministic`);
    }
  }
  const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
  return new Map(modes.map((m) => [m.name, { faces: faces.get(m.name)!, ms: median(times.get(m.name)!) }]));
}

/** Opens every detector of the default pack, built in memory (no models/ folder needed). */
export async function openDefaultDetectors(): Promise<Map<string, DetectorModel>> {
  const pack = buildDefaultPack();
  const models = new Map<string, DetectorModel>();
  for (const [key, entry] of Object.entries(pack.detection.detectors)) {
    const session = await ModelSession.create(pack.files.get(entry.file)!, { intraOpThreads: 2 }, { label: key });
    models.set(key, sessionDetector(key, session, entry));
  }
  return models;
}

export function detectWith(models: Map<string, DetectorModel>, mode: Mode, image: RgbImage): Promise<Detection[]> {
  const passes = mode.passes.map((p) => {
    const model = models.get(p.detector)!;
    // Every option of the pass (frame-side limits included), as the face stage's modePasses gives them.
    const { detector: _detector, minScore, ...options } = p;
    return { ...options, model: minScore === undefined ? model : { ...model, minScore } };
  });
  return modeDetector(mode.name, passes, DEFAULT_MIN_FACE_SIZE).detect(image);
}

const CROWDS_DIR = fileURLToPath(new URL('../../../test/media/crowds/', import.meta.url));
const LABELLED_DIR = fileURLToPath(new URL('../../../test/media/labelled/', import.meta.url));

/** The seed's RetinaFace counts (seed_retinaface.py), checked against the photos they were made on. */
interface SeedCounts {
  detector: string;
  images: Record<string, { sha256: string; width: number; height: number; faces: number; ms: number }>;
}

export interface CrowdRow {
  file: string;
  width: number;
  height: number;
  pasted: number;
  seed: number;
  seedMs: number;
  /** Per mode: faces found and ms per frame. */
  found: Map<string, { faces: number; ms: number }>;
}

/** Each crowd photo through each of CROWD_MODES (and the default mode), beside the seed's count. */
export async function measureCrowds(models: Map<string, DetectorModel>): Promise<{ rows: CrowdRow[]; seed: SeedCounts }> {
  const seed = JSON.parse(readFileSync(join(CROWDS_DIR, 'seed-retinaface.json'), 'utf8')) as SeedCounts;
  const pasted = JSON.parse(readFileSync(join(CROWDS_DIR, 'crowds.json'), 'utf8')) as Record<string, { pasted: number }>;
  const files = readdirSync(CROWDS_DIR).filter((f) => f.endsWith('.jpg')).sort();
  const modes = [...new Set([...CROWD_MODES, DEFAULT_MODE.name])].map((name) => MODES.find((m) => m.name === name)!);
  const rows: CrowdRow[] = [];
  for (const file of files) {
    const bytes = readFileSync(join(CROWDS_DIR, file));
    const reference = seed.images[file];
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (!reference) throw new Error(`${file}: no seed count in seed-retinaface.json: run libs/models/scripts/seed_retinaface.py`);
    if (reference.sha256 !== sha) throw new Error(`${file}: changed since the seed's count (sha256 ${sha}): run seed_retinaface.py again`);
    const image = await decodeImage(join(CROWDS_DIR, file));
    const found = await timeModes(models, modes, image);
    for (const [mode, { faces, ms }] of found) console.log(`${mode.padEnd(24)} ${file.padEnd(36)} ${String(faces).padStart(4)} faces (seed ${reference.faces}) ${ms.toFixed(0)} ms`);
    rows.push({
      file, width: image.width, height: image.height, pasted: pasted[file]?.pasted ?? 0,
      seed: reference.faces, seedMs: reference.ms, found,
    });
  }
  return { rows, seed };
}

/** A frame of the bench's one-face clip (bench/reference.bench.ts): a CREMA-D frame scaled to `height` and centred on a 16:9 black frame. */
async function oneFaceVideoFrame(height: number): Promise<RgbImage> {
  const frame = decodeVideo(join(LABELLED_DIR, 'cremad_1001_DFA_anger.flv'), 480, 360)[20]!;
  const width = Math.round((height * 16) / 9);
  const scaledWidth = Math.round((frame.width * height) / frame.height);
  const { data, info } = await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), { raw: { width: frame.width, height: frame.height, channels: 3 } })
    .resize(scaledWidth, height)
    .extend({ left: Math.floor((width - scaledWidth) / 2), right: Math.ceil((width - scaledWidth) / 2), background: { r: 0, g: 0, b: 0 } })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Time per video frame of each crowd mode at 720p and 1080p (one face: what issue 29's clip costs a frame). */
export async function measureVideoFrames(models: Map<string, DetectorModel>): Promise<string> {
  const modes = [...new Set([...CROWD_MODES, DEFAULT_MODE.name])].map((name) => MODES.find((m) => m.name === name)!);
  const rows: string[] = [];
  for (const height of [720, 1080]) {
    const image = await oneFaceVideoFrame(height);
    const found = await timeModes(models, modes, image);
    rows.push(`| CREMA-D frame on ${image.width}×${image.height} | ${modes.map((m) => `${found.get(m.name)!.faces} (${found.get(m.name)!.ms.toFixed(0)} ms)`).join(' | ')} |`);
  }
  return [
    `| video frame | ${modes.map((m) => `${m.name}${m.name === DEFAULT_MODE.name ? ' (default)' : ''}`).join(' | ')} |`,
    `|---|${modes.map(() => '---|').join('')}`,
    ...rows,
  ].join('\n');
}

/** The crowd table: per photo, faces found by each mode (ms per frame), the seed's count, the default's share of it. */
export function crowdTable(rows: readonly CrowdRow[]): string {
  const modes = [...rows[0]!.found.keys()];
  const lines = [
    `| photo | size | faces pasted | seed RetinaFace (full size) | ${modes.map((m) => `${m}${m === DEFAULT_MODE.name ? ' (default)' : ''}`).join(' | ')} | default / seed |`,
    `|---|---|---|---|${modes.map(() => '---|').join('')}---|`,
  ];
  for (const r of rows) {
    const cells = modes.map((m) => `${r.found.get(m)!.faces} (${r.found.get(m)!.ms.toFixed(0)} ms)`);
    const share = r.found.get(DEFAULT_MODE.name)!.faces / r.seed;
    lines.push(
      `| ${r.file} | ${r.width}×${r.height} | ${r.pasted} | ${r.seed} (${r.seedMs} ms) | ${cells.join(' | ')} | ${(100 * share).toFixed(0)} % ${share >= 0.9 ? '✔' : '✘ below 90 %'} |`,
    );
  }
  return lines.join('\n');
}

export interface FileRecall {
  file: string;
  faces: number;
  frames: number;
  /** Faces found (capped per frame at the faces present) over faces present, all frames. */
  recall: number;
  /** Frames where every face was found. */
  complete: number;
  /** Frames with more boxes than faces. */
  extra: number;
  /** Boxes per frame. */
  counts: number[];
  msPerFrame: number;
}

export async function measure(models: Map<string, DetectorModel>, mode: Mode, c: MediaCase, frames: { index: number; image: RgbImage }[]): Promise<FileRecall> {
  const counts: number[] = [];
  const started = performance.now();
  for (const f of frames) counts.push((await detectWith(models, mode, f.image)).length);
  const ms = (performance.now() - started) / frames.length;
  const found = counts.reduce((a, n) => a + Math.min(n, c.faces), 0);
  return {
    file: c.file, faces: c.faces, frames: frames.length,
    recall: found / (c.faces * frames.length),
    complete: counts.filter((n) => n >= c.faces).length,
    extra: counts.filter((n) => n > c.faces).length,
    counts, msPerFrame: ms,
  };
}

function table(results: Map<string, FileRecall[]>): string {
  const modes = [...results.keys()];
  const first = results.get(modes[0]!)!;
  const lines = [
    `| file | faces × frames | ${modes.join(' | ')} |`,
    `|---|---|${modes.map(() => '---|').join('')}`,
  ];
  first.forEach((r, i) => {
    const cells = modes.map((m) => {
      const x = results.get(m)![i]!;
      return `${(100 * x.recall).toFixed(0)} % (${x.complete}/${x.frames}${x.extra ? `, +${x.extra}` : ''})`;
    });
    lines.push(`| ${r.file} | ${r.faces} × ${r.frames} | ${cells.join(' | ')} |`);
  });
  const ms = modes.map((m) => {
    const rs = results.get(m)!;
    const frames = rs.reduce((a, r) => a + r.frames, 0);
    return `${(rs.reduce((a, r) => a + r.msPerFrame * r.frames, 0) / frames).toFixed(0)} ms`;
  });
  lines.push(`| *mean time per frame* | | ${ms.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  // The machine may be shared: the load average goes into the report, so times can be judged.
  const loadBefore = os.loadavg()[0]!;
  const models = await openDefaultDetectors();
  const crowds = await measureCrowds(models);
  const crowdMd = crowdTable(crowds.rows);
  const videoMd = await measureVideoFrames(models);
  if (process.argv.includes('--crowds')) {
    console.log(`\n${crowdMd}\n\n${videoMd}\n\n(load average ${loadBefore.toFixed(1)} → ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores)`);
    return;
  }
  const score = (key: string) => models.get(key)!.minScore;
  const results = new Map<string, FileRecall[]>(MEDIA_MODES.map((m) => [m.name, []]));
  for (const c of MEDIA_CASES) {
    const frames = await sampledFrames(c);
    for (const mode of MEDIA_MODES) {
      const r = await measure(models, mode, c, frames);
      results.get(mode.name)!.push(r);
      console.log(`${mode.name.padEnd(16)} ${c.file.padEnd(56)} ${(100 * r.recall).toFixed(0).padStart(3)} %  ${r.counts.join('')}`);
    }
  }
  const md = `# Face-detection recall of the default pack

Generated by \`npm run recall\` (libs/models/scripts/recall.ts) on the media of \`../shared/data\`
(MANIFEST.md). Do not edit by hand.

Each cell: recall = faces found / faces present over all sampled frames (found boxes capped at the
faces present in each frame), then (frames with every face found / frames), then \`+n\` = frames with
more boxes than faces (false positives or double boxes). Stills are one frame; GIFs every frame;
the labelled FLV clips every ${VIDEO_STEP}th frame. Face counts come from MANIFEST.md and issue 3, not
from boxes: a frame where a person has walked out of view still counts them as present.

Modes: \`ssd\` = face-api SSD MobileNetV1 (512², score > ${score('ssd')}), \`tiny\` = face-api Tiny Face
Detector (416², > ${score('tiny')}), \`blazeface\` = MediaPipe BlazeFace back model (256², > ${score('blazeface')}),
\`retinaface\` = RetinaFace-MobileNet0.25, the reference's detector (640², > ${score('retinaface')}, NMS 0.4, as run.py);
\`retinaface@size\` = RetinaFace with the frame seen at the scale that brings the minimum face size
(FACE_MIN_SIZE, default ${DEFAULT_MIN_FACE_SIZE} px) to ${RETINAFACE_FACE_SIZE_TILING.smallestFace} input pixels: whole when it fits the 640² input at that scale,
else in 640² tiles overlapping by ${RETINAFACE_FACE_SIZE_TILING.overlap * 100} % plus the whole frame, boxes merged across tiles by NMS
(detection.json \`faceSizeTiling\`); \`fused\` = the SSD, plus BlazeFace's boxes for faces the SSD did not find (overlap of the smaller
box ≤ 0.5; a face both find keeps the SSD's box, the one the expression net was made for); \`+tiled\` = BlazeFace also on a ${TILING.columns} × ${TILING.rows} grid of tiles overlapping by
${TILING.overlap * 100} % (tile boxes kept above ${TILING.minScore}), boxes merged across tiles by NMS (overlap of the
smaller box > 0.5); \`ssd+retinaface\` = the SSD, plus RetinaFace's boxes for faces the SSD did not find;
\`ssd0.7+…\` = the SSD keeping boxes above 0.7 first, then the other pass for faces it did not find;
\`retinaface@whole\` = RetinaFace on the whole frame in one pass of the frame's own size at the same face-size scale
(detection.json \`faceSizeWhole\`: at FACE_MIN_SIZE ${DEFAULT_MIN_FACE_SIZE} the frame at its own size, as the seed runs it);
\`retinaface@whole×1.6\` = the same with the frame enlarged 1.6× (RetinaFace's smallest anchor, 16 px, brought to
FACE_MIN_SIZE); \`+ssdbox\` = RetinaFace's boxes mapped to the SSD's box shape (\`boxTransform\`
${JSON.stringify(RETINAFACE_TO_SSD_BOX)}, fitted by box-mapping.ts on CREMA-D frames: the box the expression net was made for);
\`ssd0.7@small+…\` = the SSD pass only on frames up to ${SMALL_FRAME_SIDE} px on the longer side (\`maxFrameSide\`);
\`+retinaface${COARSE_SIDE}@large\` = on frames over ${SMALL_FRAME_SIDE} px (\`minFrameSide\`), RetinaFace also on the whole frame smoothed down to
${COARSE_SIDE} px on its longer side (\`wholeFrame\`), for faces too large or too soft for the full-size pass.
(\`fused+tiled\`, \`ssd+retinaface\` and \`retinaface@size\` were measured before: see this file's git history.)
The default pack's mode is **${DEFAULT_MODE.name}**.

${table(results)}

## Crowd photos (test/media/crowds) against the seed's RetinaFace

Composites of shippable faces at 10–60 px on real backgrounds (make_crowd_photos.py; sources and
licences in test/media/MANIFEST.md). \`seed RetinaFace\` = the seed's detector as the seed runs it:
${crowds.seed.detector} (seed_retinaface.py; its count and time per photo from seed-retinaface.json,
timed on the machine that ran it). Each mode's cell: faces found (boxes; not matched to the pasted
faces), then its time for the photo (median of ${TIMED_ROUNDS} rounds, the modes interleaved). The target: the default mode finds
at least 90 % of the seed's count.

${crowdMd}

### Time per video frame

The frame of \`bench:reference\`'s one-face clip (a CREMA-D frame centred on a black 16:9 frame) at 720p
and 1080p: faces found, then the median time of ${TIMED_ROUNDS} rounds, the modes interleaved.

${videoMd}

Time per frame: preprocessing (square resize, or the Lanczos scale of a whole-frame pass) plus onnxruntime-node on the CPU with 2
intra-op threads, on the machine that ran the script (${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}; 1-minute load
average ${loadBefore.toFixed(1)} at the start, ${os.loadavg()[0]!.toFixed(1)} at the end: above the core count, every mode is slower by
about load ÷ cores, and the modes compare with each other, not with runs on an idle machine).
`;
  const out = fileURLToPath(new URL('../RECALL.md', import.meta.url));
  writeFileSync(out, md);
  console.log(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
