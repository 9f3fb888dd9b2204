/**
 * Scenes with ground truth for tracking tests and `npm run bench:tracking`: real faces cut out of
 * real photos (face-api's npm-shipped samples and ../shared/data stills) move over drawn backgrounds —
 * walking, crossing in front of each other, approaching the camera, leaving and coming back — with
 * hard cuts between shots; rendered frame by frame (sharp) and encoded as a 25 fps H.264 video
 * (ffmpeg), so the pipeline reads them as it reads any file. The ground truth is each face's box in
 * every rendered frame, known from how it was drawn.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import type { FaceBox, LabelledBox } from '@emostream/face';
import type { Detection, RgbImage } from '@emostream/vision';
import { h264Output, sharedData } from '@emostream/shared/testing';

type Overlay = NonNullable<Parameters<ReturnType<typeof sharp>['composite']>[0]>[number];

/** A face cut out of a photo: RGBA pixels with a soft elliptical edge, and where the face is in them. */
export interface Portrait {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  readonly rgba: Buffer;
  /** The face's box inside the cut-out (the detector's box on the photo). */
  readonly face: FaceBox;
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
      const faceWidth = f.x2 - f.x1;
      const faceHeight = f.y2 - f.y1;
      const left = Math.max(0, Math.round(f.x1 - 0.4 * faceWidth));
      const top = Math.max(0, Math.round(f.y1 - 0.45 * faceHeight));
      const right = Math.min(info.width, Math.round(f.x2 + 0.4 * faceWidth));
      const bottom = Math.min(info.height, Math.round(f.y2 + 0.35 * faceHeight));
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
      const rgba = await sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
        .extract({ left, top, width, height })
        .joinChannel(mask, { raw: { width, height, channels: 1 } })
        .raw()
        .toBuffer();
      portraits.push({
        id: `${path.basename(photo, '.jpg')}#${n}`,
        width,
        height,
        rgba,
        face: { x: f.x1 - left, y: f.y1 - top, width: faceWidth, height: faceHeight },
      });
    }
  }
  return portraits;
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
        const portrait = byId.get(actor.person)!;
        const scale = at.width / portrait.face.width;
        const width = Math.max(8, Math.round(portrait.width * scale));
        const height = Math.max(8, Math.round(portrait.height * (width / portrait.width)));
        const key = `${portrait.id}@${width}x${height}`;
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
      if (!encoder.stdin!.write(rgb)) await once(encoder.stdin!, 'drain');
      truth.push(visibleFaces(drawn, spec.width, spec.height));
    }
  }
  encoder.stdin!.end();
  const [code] = await exited;
  if (code !== 0) throw new Error(`ffmpeg could not encode ${file} (exit ${code})`);
  return { file, frameCount: truth.length, truth, cuts };
}

/** Faces at least 60 % inside the picture and at most half covered by cut-outs drawn after them, clipped to the picture. */
function visibleFaces(drawn: readonly { id: string; face: FaceBox; cutout: FaceBox }[], width: number, height: number): LabelledBox[] {
  const visible: LabelledBox[] = [];
  drawn.forEach(({ id, face }, i) => {
    const clipped = intersection(face, { x: 0, y: 0, width, height });
    if (!clipped || area(clipped) < 0.6 * area(face)) return;
    const hidden = drawn
      .slice(i + 1)
      .reduce((sum, other) => sum + area(intersection(face, other.cutout) ?? { x: 0, y: 0, width: 0, height: 0 }), 0);
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
