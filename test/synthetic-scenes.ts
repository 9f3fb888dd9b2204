/**
 * Scenes with ground truth for tracking tests and `npm run bench:tracking`: real faces cut out of
 * real photos (face-api's npm-shipped samples and ../shared/data stills, `cutPortraits`) or, frame by
 * frame, out of the shipped real clips (test/media, `cutClipPortraits`) move over drawn backgrounds —
 * walking, crossing in front of each other, passing behind pillars, approaching the camera, leaving
 * and coming back — with hard cuts between shots; rendered frame by frame (sharp) and encoded as a 25 fps H.264 video
 * (ffmpeg), so the pipeline reads them as it reads any file. The ground truth is each face's box in
 * every rendered frame, known from how it was drawn.
 */
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import type { FaceBox, LabelledBox } from '@emostream/face';
import type { Detection, RgbImage } from '@emostream/vision';
import { h264Output, sharedData, videoInfo } from '@emostream/shared/testing';

type Overlay = NonNullable<Parameters<ReturnType<typeof sharp>['composite']>[0]>[number];

/** A face cut out of one picture: RGBA pixels with a soft elliptical edge, and where the face is in them. */
export interface PortraitFrame {
  readonly width: number;
  readonly height: number;
  readonly rgba: Buffer;
  /** The face's box inside the cut-out (the detector's box on the picture). */
  readonly face: FaceBox;
}

/**
 * A person to put in scenes: one cut-out (from a photo) or several (from a clip, the face as it
 * moved, spoke and turned there), shown in turn at `fps` and back, so a face from a clip keeps moving.
 */
export interface Portrait {
  readonly id: string;
  readonly frames: readonly PortraitFrame[];
  readonly fps: number;
}

/** Where an actor's face is at time `t` (seconds from the start of its shot): centre and width, in frame pixels. */
export interface Keyframe {
  readonly t: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
}

export interface Actor {
  /** Portrait id. */
  readonly person: string;
  /** Linear between keyframes; before the first and after the last the actor is off stage. */
  readonly path: readonly Keyframe[];
}

export interface Shot {
  readonly seconds: number;
  /** Two colours of the background's gradient, and the colour of the shapes drawn on it. */
  readonly palette: readonly [string, string, string];
  /** Drawn back to front: a later actor passes in front of an earlier one. */
  readonly actors: readonly Actor[];
  /** Pillars, signs: drawn over every actor (frame pixels), so a face passing behind one is hidden for a while. */
  readonly occluders?: readonly FaceBox[];
}

export interface SceneSpec {
  readonly name: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly shots: readonly Shot[];
}

export interface RenderedScene {
  readonly file: string;
  readonly frameCount: number;
  /**
   * Ground truth per frame number (index 0 = frame 1): each visible face's box, id `<shot>:<person>`.
   * A person is a new trajectory in each shot: a tracker must end its tracks at a cut.
   * Faces less than 60 % inside the frame, or more than half hidden behind another cut-out, are left
   * out (nobody can be asked to track them).
   */
  readonly truth: readonly (readonly LabelledBox[])[];
  /** Frame numbers (from 1) where a new shot starts, after the first. */
  readonly cuts: readonly number[];
}

/** The photos faces are cut from. */
export function portraitPhotos(): string[] {
  const faceApi = path.dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'));
  return [
    ...[1, 2, 3, 4, 5, 6].map((n) => path.join(faceApi, 'demo', `sample${n}.jpg`)),
    ...['angry', 'disgusted', 'fearful', 'happy', 'neutral', 'sad', 'surprised'].map((name) => sharedData(`stills/faceapi_${name}.jpg`)),
    sharedData('stills/friends_6faces_insightface_t1.jpg'),
  ];
}

/**
 * Cuts every clearly detected face (score ≥ 0.8, at least 60 px wide) out of the photos, with hair and
 * chin (1.8 × the face box) and a feathered elliptical edge. Ids are `<photo>#<n>`, in detection order.
 */
export async function cutPortraits(
  detect: (frame: RgbImage) => Promise<Detection[]>,
  photos: readonly string[] = portraitPhotos(),
): Promise<Portrait[]> {
  const portraits: Portrait[] = [];
  for (const photo of photos) {
    const { data, info } = await sharp(readFileSync(photo)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const frame: RgbImage = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
    const faces = (await detect(frame)).filter((f) => f.score >= 0.8 && f.x2 - f.x1 >= 60);
    for (const [n, f] of faces.entries()) {
      portraits.push({ id: `${path.basename(photo, '.jpg')}#${n}`, frames: [await cutOut(frame, f)], fps: 1 });
    }
  }
  return portraits;
}

/** The face `f` of `frame` with hair and chin (1.8 × the face box) and a feathered elliptical edge. */
async function cutOut(frame: RgbImage, f: Detection): Promise<PortraitFrame> {
  const faceWidth = f.x2 - f.x1;
  const faceHeight = f.y2 - f.y1;
  const left = Math.max(0, Math.round(f.x1 - 0.4 * faceWidth));
  const top = Math.max(0, Math.round(f.y1 - 0.45 * faceHeight));
  const right = Math.min(frame.width, Math.round(f.x2 + 0.4 * faceWidth));
  const bottom = Math.min(frame.height, Math.round(f.y2 + 0.35 * faceHeight));
  const width = right - left;
  const height = bottom - top;
  const mask = await sharp(
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><filter id="f"><feGaussianBlur stdDeviation="${Math.max(2, width / 40)}"/></filter></defs>` +
        `<ellipse cx="${width / 2}" cy="${height / 2}" rx="${width * 0.46}" ry="${height * 0.47}" fill="white" filter="url(#f)"/></svg>`,
    ),
  )
    .extractChannel(0)
    .raw()
    .toBuffer();
  const rgba = await sharp(Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength), {
    raw: { width: frame.width, height: frame.height, channels: 3 },
  })
    .extract({ left, top, width, height })
    .joinChannel(mask, { raw: { width, height, channels: 1 } })
    .raw()
    .toBuffer();
  return { width, height, rgba, face: { x: f.x1 - left, y: f.y1 - top, width: faceWidth, height: faceHeight } };
}

/** A clip of the shipped test media (test/media, licences in its MANIFEST.md) whose people become portraits. */
export interface CastClip {
  /** Path under the test media folder. */
  readonly file: string;
  /** Portrait ids are `<name>#<n>`, people numbered left to right as first seen. */
  readonly name: string;
  /** A face is cut from a frame only where the detector found it this sure and this wide (px). */
  readonly minScore: number;
  readonly minWidth: number;
}

/**
 * The shippable cast: every person of the shipped clips whose face is big enough to cut out — the
 * CREMA-D actor (ODbL/DbCL) and the people of three Intel sample scenes (CC BY 4.0): 8 people.
 */
export const SHIPPED_CAST: readonly CastClip[] = [
  { file: 'labelled/cremad_1001_DFA_happy.flv', name: 'cremad_1001', minScore: 0.9, minWidth: 60 },
  { file: 'scenes/intel_corridor_3people_walk_and_pause.gif', name: 'intel_corridor', minScore: 0.8, minWidth: 45 },
  { file: 'scenes/intel_headpose_2people_female_male.gif', name: 'intel_headpose', minScore: 0.8, minWidth: 40 },
  { file: 'scenes/intel_corridor_2people_walking_smallfaces.gif', name: 'intel_smallfaces', minScore: 0.8, minWidth: 14 },
];

/** Source frames between two cut-outs of a clip's face (the clip's motion at a third of its rate is plenty). */
const CLIP_FRAME_STEP = 3;

/**
 * Cuts the people of real clips out, frame by frame, as moving portraits. The clip is decoded (ffmpeg),
 * every CLIP_FRAME_STEP-th frame detected, and faces are followed from frame to frame by nearest
 * centre (these clips' people keep apart); a person's portrait is its face in the frames where it was
 * found surely enough (`minScore`, `minWidth`), each box calibrated at the scenes' scale (`calibrated`).
 */
export async function cutClipPortraits(
  detect: (frame: RgbImage) => Promise<Detection[]>,
  scene: { width: number; height: number; faceWidth: number },
  cast: readonly CastClip[] = SHIPPED_CAST,
): Promise<Portrait[]> {
  const portraits: Portrait[] = [];
  for (const clip of cast) {
    const file = sharedData(clip.file);
    const { width, height } = videoInfo(file);
    const fps = clipFps(file);
    const decoded = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
      maxBuffer: 1024 * 1024 * 1024,
    });
    if (decoded.status !== 0) throw new Error(`ffmpeg could not decode ${file}: ${decoded.stderr.toString()}`);
    const frameBytes = width * height * 3;
    const people: { last: Detection; frames: PortraitFrame[]; firstX: number }[] = [];
    for (let offset = 0; offset + frameBytes <= decoded.stdout.length; offset += frameBytes * CLIP_FRAME_STEP) {
      const frame: RgbImage = {
        width,
        height,
        data: new Uint8Array(decoded.stdout.buffer, decoded.stdout.byteOffset + offset, frameBytes),
      };
      const faces = await detect(frame);
      const taken = new Set<number>();
      // Nearest person within a face width of its last box; the rest are new people.
      for (const face of [...faces].sort((a, b) => b.score - a.score)) {
        const centre = { x: (face.x1 + face.x2) / 2, y: (face.y1 + face.y2) / 2 };
        let best = -1;
        let bestDistance = Infinity;
        people.forEach((person, i) => {
          if (taken.has(i)) return;
          const d = Math.hypot((person.last.x1 + person.last.x2) / 2 - centre.x, (person.last.y1 + person.last.y2) / 2 - centre.y);
          if (d < bestDistance && d <= person.last.x2 - person.last.x1) [best, bestDistance] = [i, d];
        });
        const sure = face.score >= clip.minScore && face.x2 - face.x1 >= clip.minWidth;
        if (best < 0 && !sure) continue;
        if (best < 0) best = people.push({ last: face, frames: [], firstX: centre.x }) - 1;
        taken.add(best);
        people[best]!.last = face;
        if (!sure) continue;
        const cut = await calibrated(await cutOut(frame, face), detect, scene);
        if (cut) people[best]!.frames.push(cut);
      }
    }
    const found = people.filter((p) => p.frames.length > 0).sort((a, b) => a.firstX - b.firstX);
    if (found.length === 0) throw new Error(`${clip.file}: no face found surely enough to cut out`);
    found.forEach((person, n) => portraits.push({ id: `${clip.name}#${n}`, frames: person.frames, fps: fps / CLIP_FRAME_STEP }));
  }
  return portraits;
}

/**
 * The cut-out with its face box as the detector gives it at the scenes' scale: the cut-out is drawn
 * alone, its face `faceWidth` wide, on a grey frame of the scenes' size and detected again. Why: a
 * fused detector's box depends on which of its detectors found the face (the SSD's tall box, BlazeFace's
 * square one, IoU about 0.4 apart), and which one does changes with the face's size and sharpness; a
 * truth box of the other convention would count every correct detection as a miss. Undefined when
 * the face is not found there (the frame is not used).
 */
async function calibrated(
  cut: PortraitFrame,
  detect: (frame: RgbImage) => Promise<Detection[]>,
  scene: { width: number; height: number; faceWidth: number },
): Promise<PortraitFrame | undefined> {
  const scale = scene.faceWidth / cut.face.width;
  const width = Math.max(8, Math.round(cut.width * scale));
  const height = Math.max(8, Math.round(cut.height * scale));
  const left = Math.round((scene.width - width) / 2);
  const top = Math.round((scene.height - height) / 2);
  const pixels = await sharp(cut.rgba, { raw: { width: cut.width, height: cut.height, channels: 4 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  const data = await sharp({ create: { width: scene.width, height: scene.height, channels: 3, background: '#808080' } })
    .composite([{ input: pixels, raw: { width, height, channels: 4 }, left, top }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const sx = width / cut.width;
  const sy = height / cut.height;
  const expected = { x: left + cut.face.x * sx, y: top + cut.face.y * sy, width: cut.face.width * sx, height: cut.face.height * sy };
  const found = (
    await detect({ width: scene.width, height: scene.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) })
  )
    .map((d) => ({ x: d.x1, y: d.y1, width: d.x2 - d.x1, height: d.y2 - d.y1 }))
    .filter((box) => boxIou(box, expected) >= 0.3)
    .sort((a, b) => boxIou(b, expected) - boxIou(a, expected))[0];
  if (!found) return undefined;
  return { ...cut, face: { x: (found.x - left) / sx, y: (found.y - top) / sy, width: found.width / sx, height: found.height / sy } };
}

function boxIou(a: FaceBox, b: FaceBox): number {
  const overlap = intersection(a, b);
  return overlap ? area(overlap) / (area(a) + area(b) - area(overlap)) : 0;
}

/** A clip's frame rate (ffprobe). */
function clipFps(file: string): number {
  const probe = spawnSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=r_frame_rate', '-of', 'csv=p=0', file],
    {
      encoding: 'utf8',
    },
  );
  const [num, den] = probe.stdout.trim().split('/').map(Number);
  if (probe.status !== 0 || !num || !den) throw new Error(`ffprobe could not read the frame rate of ${file}: ${probe.stderr}`);
  return num / den;
}

/** The portrait's cut-out at time `t`: its frames shown in turn at its rate, forwards then backwards (no jump at the loop). */
function portraitFrameAt(portrait: Portrait, t: number): { frame: PortraitFrame; index: number } {
  const count = portrait.frames.length;
  if (count === 1) return { frame: portrait.frames[0]!, index: 0 };
  const period = 2 * (count - 1);
  const step = Math.floor(t * portrait.fps) % period;
  const index = step < count ? step : period - step;
  return { frame: portrait.frames[index]!, index };
}

/** Renders `spec` with `portraits` to `file` (H.264, yuv420p) and returns its ground truth. */
export async function renderScene(spec: SceneSpec, portraits: readonly Portrait[], file: string): Promise<RenderedScene> {
  const byId = new Map(portraits.map((p) => [p.id, p]));
  for (const shot of spec.shots)
    for (const actor of shot.actors) if (!byId.has(actor.person)) throw new Error(`${spec.name}: no portrait ${actor.person}`);
  // Drawn on a canvas with a margin, so a face can leave the picture partly or wholly.
  const margin = Math.round(spec.width / 2);
  const canvas = { width: spec.width + 2 * margin, height: spec.height + 2 * margin };
  const encoder = spawn(
    'ffmpeg',
    [
      ...['-hide_banner', '-loglevel', 'error', '-y'],
      // The frames drawn here, as raw RGB on stdin.
      ...['-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${spec.width}x${spec.height}`, '-r', String(spec.fps), '-i', '-'],
      ...h264Output(18),
      file,
    ],
    {
      stdio: ['pipe', 'ignore', 'inherit'],
    },
  );
  const exited = once(encoder, 'exit');
  const truth: LabelledBox[][] = [];
  const cuts: number[] = [];
  const resized = new Map<string, Buffer>();
  for (const [shotIndex, shot] of spec.shots.entries()) {
    if (shotIndex > 0) cuts.push(truth.length + 1);
    const background = await drawBackground(canvas, shot.palette, shotIndex);
    const frames = Math.round(shot.seconds * spec.fps);
    for (let i = 0; i < frames; i++) {
      const t = i / spec.fps;
      const layers: Overlay[] = [];
      const drawn: { id: string; face: FaceBox; cutout: FaceBox }[] = [];
      for (const actor of shot.actors) {
        const at = position(actor.path, t);
        if (!at) continue;
        const { frame: portrait, index } = portraitFrameAt(byId.get(actor.person)!, t);
        const scale = at.width / portrait.face.width;
        const width = Math.max(8, Math.round(portrait.width * scale));
        const height = Math.max(8, Math.round(portrait.height * (width / portrait.width)));
        const key = `${actor.person}/${index}@${width}x${height}`;
        let pixels = resized.get(key);
        if (!pixels) {
          pixels = await sharp(portrait.rgba, { raw: { width: portrait.width, height: portrait.height, channels: 4 } })
            .resize(width, height, { fit: 'fill' })
            .raw()
            .toBuffer();
          resized.set(key, pixels);
        }
        const sx = width / portrait.width;
        const sy = height / portrait.height;
        // Top-left of the cut-out in frame pixels, so that the face's centre lands on (x, y).
        const left = Math.round(at.x - (portrait.face.x + portrait.face.width / 2) * sx);
        const top = Math.round(at.y - (portrait.face.y + portrait.face.height / 2) * sy);
        if (left + margin < 0 || top + margin < 0 || left + margin + width > canvas.width || top + margin + height > canvas.height)
          continue;
        layers.push({ input: pixels, raw: { width, height, channels: 4 }, left: left + margin, top: top + margin });
        drawn.push({
          id: `${shotIndex}:${actor.person}`,
          face: {
            x: left + portrait.face.x * sx,
            y: top + portrait.face.y * sy,
            width: portrait.face.width * sx,
            height: portrait.face.height * sy,
          },
          cutout: { x: left, y: top, width, height },
        });
      }
      for (const box of shot.occluders ?? []) {
        const width = Math.round(box.width);
        const height = Math.round(box.height);
        layers.push({
          input: { create: { width, height, channels: 3, background: shot.palette[2] } },
          left: Math.round(box.x) + margin,
          top: Math.round(box.y) + margin,
        });
      }
      // Two pipelines: sharp extracts before it composites within one.
      const composed = await sharp(background, { raw: { ...canvas, channels: 3 } })
        .composite(layers)
        .removeAlpha()
        .raw()
        .toBuffer();
      const rgb = await sharp(composed, { raw: { ...canvas, channels: 3 } })
        .extract({ left: margin, top: margin, width: spec.width, height: spec.height })
        .raw()
        .toBuffer();
      if (!encoder.stdin.write(rgb)) await once(encoder.stdin, 'drain');
      truth.push(visibleFaces(drawn, shot.occluders ?? [], spec.width, spec.height));
    }
  }
  encoder.stdin.end();
  const [code] = await exited;
  if (code !== 0) throw new Error(`ffmpeg could not encode ${file} (exit ${code})`);
  return { file, frameCount: truth.length, truth, cuts };
}

/** Faces at least 60 % inside the picture and at most half covered by cut-outs drawn after them or occluders, clipped to the picture. */
function visibleFaces(
  drawn: readonly { id: string; face: FaceBox; cutout: FaceBox }[],
  occluders: readonly FaceBox[],
  width: number,
  height: number,
): LabelledBox[] {
  const visible: LabelledBox[] = [];
  drawn.forEach(({ id, face }, i) => {
    const clipped = intersection(face, { x: 0, y: 0, width, height });
    if (!clipped || area(clipped) < 0.6 * area(face)) return;
    const hidden = [...drawn.slice(i + 1).map((d) => d.cutout), ...occluders].reduce(
      (sum, other) => sum + area(intersection(face, other) ?? { x: 0, y: 0, width: 0, height: 0 }),
      0,
    );
    if (hidden > 0.5 * area(face)) return;
    visible.push({ id, box: clipped });
  });
  return visible;
}

function intersection(a: FaceBox, b: FaceBox): FaceBox | undefined {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width);
  const bottom = Math.min(a.y + a.height, b.y + b.height);
  return right > x && bottom > y ? { x, y, width: right - x, height: bottom - y } : undefined;
}

function area(box: FaceBox): number {
  return box.width * box.height;
}

function position(path: readonly Keyframe[], t: number): Keyframe | undefined {
  if (path.length === 0 || t < path[0]!.t || t > path.at(-1)!.t) return undefined;
  const next = path.findIndex((k) => k.t >= t);
  const b = path[next]!;
  const a = path[Math.max(0, next - 1)]!;
  const f = b.t === a.t ? 0 : (t - a.t) / (b.t - a.t);
  return { t, x: a.x + f * (b.x - a.x), y: a.y + f * (b.y - a.y), width: a.width + f * (b.width - a.width) };
}

/** A gradient with a few shapes (a room: floor, door, window), different for every shot. */
async function drawBackground(
  size: { width: number; height: number },
  [from, to, shapes]: readonly [string, string, string],
  seed: number,
): Promise<Buffer> {
  const { width, height } = size;
  const door = ((seed * 0.37) % 1) * width * 0.6 + width * 0.2;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">` +
    `<stop offset="0" stop-color="${from}"/><stop offset="1" stop-color="${to}"/></linearGradient></defs>` +
    `<rect width="${width}" height="${height}" fill="url(#g)"/>` +
    `<rect x="0" y="${height * 0.7}" width="${width}" height="${height * 0.3}" fill="${shapes}" opacity="0.5"/>` +
    `<rect x="${door}" y="${height * 0.25}" width="${width * 0.08}" height="${height * 0.45}" fill="${shapes}" opacity="0.8"/>` +
    `<rect x="${width * 0.1}" y="${height * 0.3}" width="${width * 0.12}" height="${height * 0.12}" fill="#ffffff" opacity="0.35"/></svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer();
}
