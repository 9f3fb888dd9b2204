/**
 * `npm run bench:tracking` — identity tracking at the pipeline's sampling, with ground truth.
 * Renders scenes of real faces (cut from face-api's sample photos and ../shared/data stills) that
 * walk, cross, approach the camera, leave and come back, with hard cuts (test/synthetic-scenes.ts),
 * as 25 fps videos; samples them as ingest samples files (every 5th frame: 5 frames/s) and runs the
 * real face stage on them (default pack detectors) with the ByteTrack-style tracker of before and
 * with the current one. Scores each with MOT metrics (IDF1, ID switches, fragmentations, MOTA, ids
 * that covered two people). Writes bench/results/tracking.json and the README table.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  appearanceOf,
  decodeFrame,
  faceTrackerConfigSchema,
  frameSignature,
  motMetrics,
  StreamTrackers,
  type FaceDetector,
  type FaceTrackerConfig,
  type MotMetrics,
} from '@emostream/face';
import { cutPortraits, renderScene, type Actor, type SceneSpec } from '@emostream/test/synthetic-scenes';
import { cachedPackDetector, sampleFile, trackSampledFile, type SampledFile } from '@emostream/test/track-file';
import { machine, resultsPath, updateReadme } from './report.js';

const WIDTH = 640;
const HEIGHT = 360;
const FPS = 25;

/** The tracker of before this benchmark: overlap only, no recovery, no cut detection. */
const TRACKERS: Record<string, Partial<FaceTrackerConfig>> = {
  'ByteTrack-style (IoU only, before)': { appearanceWeight: 0, recoverFromLastObservation: false, endTracksAtSceneCuts: false },
  'appearance + OC-SORT recovery + cuts (now)': {},
};

/** A straight walk from (x0, y0) at width w0 to (x1, y1) at width w1 between t0 and t1. */
function walk(
  person: string,
  t0: number,
  t1: number,
  [x0, y0, w0]: [number, number, number],
  [x1, y1, w1]: [number, number, number],
): Actor {
  return {
    person,
    path: [
      { t: t0, x: x0, y: y0, width: w0 },
      { t: t1, x: x1, y: y1, width: w1 },
    ],
  };
}

/** A path through the given (t, x, y, width) points. */
function through(person: string, points: [number, number, number, number][]): Actor {
  return { person, path: points.map(([t, x, y, width]) => ({ t, x, y, width })) };
}

function scenes(): SceneSpec[] {
  const base = { width: WIDTH, height: HEIGHT, fps: FPS };
  return [
    {
      ...base,
      name: 'cross',
      shots: [
        {
          seconds: 6,
          palette: ['#5d6d7e', '#aab7b8', '#34495e'],
          actors: [
            walk('faceapi_happy#0', 0, 6, [50, 160, 85], [590, 175, 85]),
            walk('sample2#0', 0, 6, [590, 190, 85], [50, 170, 85]),
            walk('friends_6faces_insightface_t1#2', 0, 6, [120, 90, 60], [180, 95, 60]),
          ],
        },
      ],
    },
    {
      ...base,
      name: 'fast-zigzag',
      shots: [
        {
          seconds: 6,
          palette: ['#7e5109', '#f0b27a', '#4a235a'],
          actors: [
            through('sample5#0', [
              [0, 60, 120, 70],
              [1.2, 580, 150, 70],
              [2.4, 60, 130, 70],
              [3.6, 580, 160, 70],
              [4.8, 60, 120, 70],
              [6, 580, 140, 70],
            ]),
            through('faceapi_neutral#0', [
              [0, 580, 250, 70],
              [1.5, 60, 230, 70],
              [3, 580, 250, 70],
              [4.5, 60, 240, 70],
              [6, 580, 250, 70],
            ]),
            through('sample6#2', [
              [0, 320, 60, 60],
              [2, 320, 300, 70],
              [4, 320, 60, 60],
              [6, 320, 300, 70],
            ]),
          ],
        },
      ],
    },
    {
      ...base,
      name: 'approach',
      shots: [
        {
          seconds: 5,
          palette: ['#1b4f72', '#85c1e9', '#17202a'],
          actors: [walk('sample1#1', 0, 5, [180, 120, 40], [250, 200, 170]), walk('faceapi_sad#0', 0, 5, [460, 110, 40], [420, 190, 160])],
        },
      ],
    },
    {
      ...base,
      name: 'leave-and-return',
      shots: [
        {
          seconds: 6,
          palette: ['#145a32', '#a9dfbf', '#7b7d7d'],
          actors: [
            // Walks out to the right and comes back: out of the picture for about 0.8 s (4 sampled
            // frames), within the tracker's maxMisses (a longer absence gives a new id, by design).
            through('sample3#0', [
              [0, 300, 170, 90],
              [1, 620, 170, 90],
              [1.4, 740, 172, 90],
            ]),
            through('sample3#0', [
              [1.6, 740, 175, 90],
              [2, 620, 175, 90],
              [6, 380, 175, 90],
            ]),
            walk('faceapi_surprised#0', 0, 6, [120, 200, 80], [150, 190, 80]),
          ],
        },
      ],
    },
    {
      ...base,
      name: 'hard-cuts',
      shots: [
        {
          seconds: 3,
          palette: ['#6e2c00', '#edbb99', '#1c2833'],
          actors: [
            walk('sample4#0', 0, 3, [200, 170, 100], [230, 170, 100]),
            walk('faceapi_angry#0', 0, 3, [450, 170, 100], [430, 175, 100]),
          ],
        },
        {
          // Other people where the first two stood: an overlap-only tracker carries the ids over.
          seconds: 3,
          palette: ['#212f3d', '#5499c7', '#d4e6f1'],
          actors: [
            walk('sample6#0', 0, 3, [230, 170, 100], [210, 170, 100]),
            walk('faceapi_disgusted#0', 0, 3, [430, 175, 100], [450, 170, 100]),
          ],
        },
        {
          seconds: 3,
          palette: ['#4a235a', '#d2b4de', '#1c2833'],
          actors: [
            walk('sample4#0', 0, 3, [210, 170, 100], [240, 170, 100]),
            walk('faceapi_angry#0', 0, 3, [450, 175, 100], [420, 170, 100]),
          ],
        },
      ],
    },
    {
      ...base,
      name: 'group-walk',
      shots: [
        {
          seconds: 6,
          palette: ['#424949', '#d5dbdb', '#873600'],
          actors: [
            walk('friends_6faces_insightface_t1#0', 0, 6, [40, 110, 55], [600, 120, 55]),
            walk('sample5#2', 0.5, 6, [600, 150, 70], [40, 140, 70]),
            walk('faceapi_fearful#0', 0, 6, [100, 250, 95], [560, 235, 95]),
            walk('sample1#0', 1, 6, [560, 260, 100], [60, 250, 100]),
          ],
        },
      ],
    },
  ];
}

const NOW = Object.keys(TRACKERS).at(-1)!;

/** Time spent tracking (descriptors, cut signature, matching) over the frames, without detection. */
const trackingCost = { frames: 0, ms: 0 };
async function timeTracking(sampled: SampledFile, detector: FaceDetector, config: Partial<FaceTrackerConfig>): Promise<void> {
  const trackers = new StreamTrackers(faceTrackerConfigSchema.parse({ minHits: 1, ...config }));
  for (const frame of sampled.frames) {
    const rgb = await decodeFrame(frame.jpeg);
    const found = await detector.detect(rgb);
    const started = performance.now();
    trackers.update(
      sampled.streamId,
      found.map((f) => {
        const box = { x: f.x1, y: f.y1, width: f.x2 - f.x1, height: f.y2 - f.y1 };
        return { box, score: f.score, appearance: appearanceOf(rgb, box) };
      }),
      frame.seq,
      frameSignature(rgb),
    );
    trackingCost.ms += performance.now() - started;
    trackingCost.frames += 1;
  }
}

interface SceneResult {
  scene: string;
  sampledFrames: number;
  tracker: string;
  metrics: MotMetrics;
}

const workDir = mkdtempSync(path.join(tmpdir(), 'emostream-tracking-'));
try {
  const detector = await cachedPackDetector();
  const portraits = await cutPortraits((frame) => detector.detectRgb(frame));
  const results: SceneResult[] = [];
  // TRACKING_SCENES=cross,approach runs only those (while tuning); the README table needs them all.
  const only = process.env.TRACKING_SCENES?.split(',');
  for (const spec of scenes().filter((s) => !only || only.includes(s.name))) {
    const rendered = await renderScene(spec, portraits, path.join(workDir, `${spec.name}.mp4`));
    const sampled = await sampleFile(rendered.file, spec.name);
    for (const [tracker, config] of Object.entries(TRACKERS)) {
      const tracked = await trackSampledFile(sampled, detector, config);
      if (tracker === NOW) await timeTracking(sampled, detector, config);
      const frames = tracked.map((t) => ({ truth: rendered.truth[t.seq - 1] ?? [], tracked: t.faces }));
      const metrics = motMetrics(frames);
      results.push({ scene: spec.name, sampledFrames: sampled.frames.length, tracker, metrics });
      console.log(
        `${spec.name.padEnd(18)} ${tracker.padEnd(45)} IDF1 ${metrics.idf1.toFixed(3)}  IDSW ${metrics.idSwitches}  FM ${metrics.fragmentations}  ids ${metrics.trackIds}/${metrics.truthTracks}  on two people ${metrics.idsOnSeveralPeople}`,
      );
    }
  }

  const totals = Object.keys(TRACKERS).map((tracker) => {
    const rows = results.filter((r) => r.tracker === tracker).map((r) => r.metrics);
    const sum = (f: (m: MotMetrics) => number) => rows.reduce((s, m) => s + f(m), 0);
    // IDF1 over all scenes: identity-true boxes over all boxes (each scene's IDTP recovered from its IDF1).
    const idtp = sum((m) => (m.idf1 * (m.truthBoxes + m.trackedBoxes)) / 2);
    return {
      tracker,
      idf1: (2 * idtp) / sum((m) => m.truthBoxes + m.trackedBoxes),
      idSwitches: sum((m) => m.idSwitches),
      fragmentations: sum((m) => m.fragmentations),
      truthTracks: sum((m) => m.truthTracks),
      trackIds: sum((m) => m.trackIds),
      idsOnSeveralPeople: sum((m) => m.idsOnSeveralPeople),
      mota: 1 - sum((m) => m.misses + m.falsePositives + m.idSwitches) / sum((m) => m.truthBoxes),
    };
  });
  const cost = {
    detectionMsPerFrame: detector.stats.ms / detector.stats.frames,
    trackingMsPerFrame: trackingCost.ms / trackingCost.frames,
  };
  if (!only) {
    writeFileSync(
      resultsPath('tracking.json'),
      `${JSON.stringify({ machine: machine(), date: new Date().toISOString(), sampling: '25 fps videos, every 5th frame (5 frames/s)', minIou: 0.5, cost, totals, scenes: results }, null, 2)}\n`,
    );
  }

  const pct = (v: number) => `${(v * 100).toFixed(1)} %`;
  const lines = [
    '| tracker | IDF1 | ID switches | per 10 person-tracks | fragmentations | track ids / person-tracks | ids on two people | MOTA |',
    '|---|---|---|---|---|---|---|---|',
    ...totals.map(
      (t) =>
        `| ${t.tracker} | ${pct(t.idf1)} | ${t.idSwitches} | ${((10 * t.idSwitches) / t.truthTracks).toFixed(2)} | ${t.fragmentations} | ${t.trackIds} / ${t.truthTracks} | ${t.idsOnSeveralPeople} | ${pct(t.mota)} |`,
    ),
    '',
    '| scene | sampled frames | ' +
      Object.keys(TRACKERS)
        .map((t) => `${t.split(' (')[0]}: IDF1 / IDSW / FM`)
        .join(' | ') +
      ' |',
    '|---|---|' +
      Object.keys(TRACKERS)
        .map(() => '---')
        .join('|') +
      '|',
    ...scenes().flatMap((spec) => {
      const rows = results.filter((r) => r.scene === spec.name);
      if (rows.length === 0) return [];
      return [
        `| ${spec.name} | ${rows[0]!.sampledFrames} | ${rows.map((r) => `${pct(r.metrics.idf1)} / ${r.metrics.idSwitches} / ${r.metrics.fragmentations}`).join(' | ')} |`,
      ];
    }),
    '',
    `Tracking (appearance descriptors, cut signature, matching) costs ${cost.trackingMsPerFrame.toFixed(2)} ms per frame against ${cost.detectionMsPerFrame.toFixed(0)} ms for detection. Measured on ${machine()}, ${new Date().toISOString().slice(0, 10)}; \`npm run bench:tracking\`, results in \`bench/results/tracking.json\`.`,
  ];
  if (!only) updateReadme('tracking', lines.join('\n'));
  console.log(lines.join('\n'));
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
