// The real test media of ../shared/data (see its MANIFEST.md) with the number of faces each frame
// shows, as MANIFEST.md and issue 3 state them, and how frames are sampled from each file.
import { join } from 'node:path';
import type { RgbImage } from '@emostream/vision';
import { sharedData, sharedDataDir } from '@emostream/shared/testing';
import { decodeImage, decodeVideo, gifFrameCount } from '../src/media.js';

export interface MediaCase {
  /** Path under the data folder. */
  file: string;
  kind: 'still' | 'gif' | 'video';
  /** Faces visible in every sampled frame. */
  faces: number;
  /** Face widths in pixels, as MANIFEST.md gives them (approximate, from a detector's boxes). */
  faceWidth: [number, number];
  /** Video frame size (FLV clips: 480×360). */
  size?: { width: number; height: number };
}

/** Sampling of the labelled clips: every 6th frame, REFERENCE.md's k = round(5·fps/25) at 29.97 fps. */
export const VIDEO_STEP = 6;

type Widths = [number, number];
const still = (file: string, faces: number, faceWidth: Widths): MediaCase => ({ file: `stills/${file}`, kind: 'still', faces, faceWidth });
const gif = (file: string, faces: number, faceWidth: Widths): MediaCase => ({ file: `scenes/${file}`, kind: 'gif', faces, faceWidth });
const video = (label: string): MediaCase => ({
  file: `labelled/cremad_1001_DFA_${label}.flv`, kind: 'video', faces: 1, faceWidth: [90, 95], size: { width: 480, height: 360 },
});

export const MEDIA_CASES: readonly MediaCase[] = [
  ...['angry', 'disgusted', 'fearful', 'happy', 'neutral', 'sad', 'surprised'].map((e) => still(`faceapi_${e}.jpg`, 1, [100, 140])),
  still('friends_6faces_insightface_t1.jpg', 6, [90, 105]),
  still('selfie_plus_group_6faces_mixed_sizes.jpg', 6, [85, 390]),
  gif('intel_corridor_2people_walking_smallfaces.gif', 2, [13, 26]),
  gif('intel_corridor_3people_walk_and_pause.gif', 3, [30, 55]),
  gif('intel_classroom_4people_tinyfaces.gif', 4, [11, 19]),
  gif('intel_headpose_2people_female_male.gif', 2, [55, 75]),
  ...['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad'].map(video),
];

/** The first test-media folder (EMOSTREAM_TEST_DATA, ../shared/data, the repo's test/media): see sharedData for one file. */
export const dataDir = sharedDataDir;

/** The sampled frames of a case, with their 0-based frame numbers. */
export async function sampledFrames(c: MediaCase, dir?: string): Promise<{ index: number; image: RgbImage }[]> {
  const path = dir ? join(dir, c.file) : sharedData(c.file);
  if (c.kind === 'still') return [{ index: 0, image: await decodeImage(path) }];
  if (c.kind === 'gif') {
    const count = await gifFrameCount(path);
    const frames = [];
    for (let i = 0; i < count; i++) frames.push({ index: i, image: await decodeImage(path, i) });
    return frames;
  }
  const { width, height } = c.size!;
  return decodeVideo(path, width, height)
    .map((image, index) => ({ index, image }))
    .filter((f) => f.index % VIDEO_STEP === 0);
}
