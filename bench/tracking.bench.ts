/**
 * `npm run bench:tracking` — identity tracking at the pipeline's sampling, with ground truth.
 * Renders scenes of real faces (cut from face-api's sample photos and ../shared/data stills) that
 * walk, cross, approach the camera, leave and come back, with hard cuts (fixtures/src/synthetic-scenes.ts),
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
  iou,
  motMetrics,
  StreamTrackers,
  type FaceDetector,
  type FaceTrackerConfig,
  type MotMetrics,
} from '@emostream/face';
import {
  cutClipPortraits,
  cutPortraits,
  renderScene,
  type Actor,
  type RenderedScene,
  type SceneSpec,
} from '@emostream/fixtures/synthetic-scenes';
import { faceSurroundings, frameSignature } from '@emostream/vision';
import { cachedStageDetector, sampleFile, trackSampledFile, type SampledFile } from '@emostream/fixtures/track-file';
import { machine, resultsPath, updateReadme } from './report.js';

const WIDTH = 640;
const HEIGHT = 360;
const FPS = 25;

/** The tracker of before this benchmark: overlap only, no recovery, no cut detection. */
const TRACKERS: Record<string, Partial<FaceTrackerConfig>> = {
  'ByteTrack-style (IoU only, before)': {
    appearanceWeight: 0,
    recoverFromLastObservation: false,
    endTracksAtSceneCuts: false,
    maxMisses: 5,
  },
  // The tracker before issue 25: no swap veto, re-identification or duplicate check, and its settings of then.
  'appearance + OC-SORT recovery + cuts (before issue 25)': {
    swapMargin: 2,
    reidGate: 1,
    duplicateOverlap: 1,
    appearanceVeto: 0.5,
    maxMisses: 5,
  },
  // TRACKING_CONFIG='{"swapMargin":0.15}' tries settings on the current tracker (while tuning, with the cache).
  'appearance + OC-SORT recovery + cuts (now)': process.env.TRACKING_CONFIG
    ? (JSON.parse(process.env.TRACKING_CONFIG) as Partial<FaceTrackerConfig>)
    : {},
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

/**
 * Crowd scenes are drawn at 640×360, as the other scenes: at 1280×720 (what ingest makes of a 1080p
 * camera) the default pack's detectors, which see the frame at most 1024 px wide, miss most faces of
 * 40–110 px (detection recall under 60 %), and the bench would measure the detector, not the tracker.
 */
const CROWD = { width: WIDTH, height: HEIGHT, fps: FPS };

/**
 * Crowd walks of the shippable cast (test/media: the CREMA-D actor and the Intel scenes' people,
 * moving as they move in their clips): 6 people at once, crossing paths, passing in front of each
 * other and behind pillars (hidden for 3 or more sampled frames), a frontal close-up in one
 * continuous shot. Ids `<clip>#<n>` are `cutClipPortraits`'s.
 */
function crowdScenes(): SceneSpec[] {
  return [
    {
      ...CROWD,
      name: 'crowd-crossing',
      shots: [
        {
          seconds: 8,
          palette: ['#4d5656', '#b3b6b7', '#1c2833'],
          // A pillar the middle walkers pass behind: hidden about 0.8 s, 4 sampled frames.
          occluders: [{ x: 420, y: 110, width: 50, height: 100 }],
          actors: [
            walk('intel_headpose#1', 0, 8, [60, 70, 58], [300, 75, 58]),
            walk('intel_corridor#1', 0, 8, [590, 75, 62], [380, 70, 62]),
            // Same band, opposite ways: they cross in the middle, one in front of the other.
            walk('intel_corridor#0', 0, 8, [40, 165, 60], [600, 160, 60]),
            walk('intel_headpose#0', 0, 8, [600, 155, 60], [40, 165, 60]),
            walk('intel_corridor#2', 0, 8, [60, 280, 66], [590, 275, 66]),
            walk('cremad_1001#0', 0, 8, [590, 270, 72], [60, 285, 72]),
          ],
        },
      ],
    },
    {
      ...CROWD,
      name: 'crowd-swap',
      shots: [
        {
          seconds: 6,
          palette: ['#6c3483', '#d7bde2', '#212f3c'],
          actors: [
            // Three pairs crossing head on, boxes over each other's.
            walk('intel_headpose#0', 0, 6, [90, 75, 60], [550, 85, 60]),
            walk('intel_headpose#1', 0, 6, [550, 80, 60], [90, 75, 60]),
            walk('intel_corridor#0', 0, 6, [70, 180, 62], [570, 170, 62]),
            walk('intel_corridor#1', 0, 6, [570, 175, 62], [70, 185, 62]),
            walk('intel_corridor#2', 0, 6, [80, 285, 66], [560, 280, 66]),
            walk('cremad_1001#0', 0, 6, [560, 280, 72], [80, 285, 72]),
          ],
        },
      ],
    },
    {
      ...CROWD,
      name: 'crowd-closeup',
      shots: [
        {
          seconds: 8,
          palette: ['#0e6251', '#a3e4d7', '#17202a'],
          actors: [
            walk('intel_corridor#0', 0, 8, [300, 70, 58], [60, 75, 58]),
            walk('intel_corridor#1', 0, 8, [50, 160, 62], [300, 165, 62]),
            walk('intel_corridor#2', 0, 8, [280, 280, 66], [80, 275, 66]),
            walk('intel_headpose#0', 0, 8, [150, 90, 58], [230, 270, 58]),
            walk('intel_headpose#1', 0, 8, [560, 60, 58], [600, 70, 58]),
            // Walks in and comes up to the camera: a frontal close-up (face 180 px of a 360-px
            // frame) in the same shot.
            through('cremad_1001#0', [
              [0, 600, 250, 62],
              [2, 500, 220, 80],
              [5, 480, 190, 170],
              [8, 480, 190, 180],
            ]),
          ],
        },
      ],
    },
    {
      ...CROWD,
      name: 'crowd-stop-and-go',
      shots: [
        {
          seconds: 8,
          palette: ['#7b241c', '#f5b7b1', '#1b2631'],
          occluders: [{ x: 410, y: 110, width: 50, height: 100 }],
          actors: [
            // Stops behind the pillar for a moment: hidden about 0.8 s, 4 sampled frames.
            through('intel_headpose#0', [
              [0, 250, 160, 60],
              [2.5, 435, 160, 60],
              [2.7, 435, 160, 60],
              [8, 600, 160, 60],
            ]),
            // Walks out of the picture and comes back 0.8 s later (4 sampled frames away).
            through('intel_corridor#2', [
              [0, 450, 280, 66],
              [2, 625, 280, 66],
              [2.4, 700, 280, 66],
            ]),
            through('intel_corridor#2', [
              [3.2, 700, 285, 66],
              [3.6, 625, 285, 66],
              [8, 380, 280, 66],
            ]),
            through('intel_corridor#0', [
              [0, 60, 170, 60],
              [3, 200, 170, 60],
              [5, 200, 165, 60],
              [8, 60, 170, 60],
            ]),
            walk('intel_headpose#1', 0, 8, [560, 70, 58], [330, 75, 58]),
            walk('intel_corridor#1', 0, 8, [80, 70, 62], [250, 75, 62]),
            walk('cremad_1001#0', 0, 8, [60, 285, 72], [300, 280, 72]),
          ],
        },
      ],
    },
  ];
}

const NOW = Object.keys(TRACKERS).at(-1)!;

const allScenes = (): SceneSpec[] => [...scenes(), ...crowdScenes()];

/** Time spent tracking (descriptors, cut signature, matching) over the frames, without detection. */
const trackingCost = { frames: 0, ms: 0 };
/** The identity model's share of the current tracker's runs: frames, faces detected, faces described, its time. */
const identityCost = { frames: 0, faces: 0, described: 0, runs: 0, ms: 0 };
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
      frameSignature(rgb, { ignore: faceSurroundings(found.map((f) => ({ x: f.x1, y: f.y1, width: f.x2 - f.x1, height: f.y2 - f.y1 }))) }),
    );
    trackingCost.ms += performance.now() - started;
    trackingCost.frames += 1;
  }
}

/**
 * Share of the ground-truth faces of the sampled frames the detector found (IoU ≥ 0.5, any score the
 * tracker uses): what no tracker can exceed, so IDF1 is read against it.
 */
async function detectionRecall(sampled: SampledFile, truth: RenderedScene['truth'], detector: FaceDetector): Promise<number> {
  let truthBoxes = 0;
  let found = 0;
  for (const frame of sampled.frames) {
    const faces = (await detector.detect(await decodeFrame(frame.jpeg))).map((f) => ({
      x: f.x1,
      y: f.y1,
      width: f.x2 - f.x1,
      height: f.y2 - f.y1,
    }));
    const people = truth[frame.seq - 1] ?? [];
    truthBoxes += people.length;
    const missed = people.filter((p) => !faces.some((f) => iou(f, p.box) >= 0.5));
    found += people.length - missed.length;
    if (process.env.TRACKING_DEBUG && missed.length > 0)
      console.log(
        `  frame ${frame.seq}: missed ${missed
          .map((p) => {
            const best = Math.max(0, ...faces.map((f) => iou(f, p.box)));
            return `${p.id} (${Math.round(p.box.width)} px, best IoU ${best.toFixed(2)})`;
          })
          .join(', ')}`,
      );
  }
  return truthBoxes === 0 ? 1 : found / truthBoxes;
}

interface SceneResult {
  scene: string;
  sampledFrames: number;
  /** Share of the ground-truth faces the detector found (the ceiling of any tracker's recall). */
  detectionRecall: number;
  tracker: string;
  metrics: MotMetrics;
}

// TRACKING_VIDEOS=<dir> keeps the rendered scenes there (to look at them); by default they go with a temporary folder.
const keptVideos = process.env.TRACKING_VIDEOS;
const workDir = keptVideos ?? mkdtempSync(path.join(tmpdir(), 'emostream-tracking-'));
try {
  // TRACKING_DETECTIONS_CACHE=<dir> keeps each frame's detections there across runs (while tuning the
  // tracker); the README table comes from a run without it, so its detection cost is measured.
  const detectionsCache = process.env.TRACKING_DETECTIONS_CACHE;
  const detector = await cachedStageDetector('default', detectionsCache);
  const portraits = [
    ...(await cutPortraits((frame) => detector.detectRgb(frame))),
    ...(await cutClipPortraits((frame) => detector.detectRgb(frame), { ...CROWD, faceWidth: 60 })),
  ];
  const results: SceneResult[] = [];
  // TRACKING_SCENES=cross,approach runs only those (while tuning); the README table needs them all.
  const only = process.env.TRACKING_SCENES?.split(',');
  for (const spec of allScenes().filter((s) => !only || only.includes(s.name))) {
    const rendered = await renderScene(spec, portraits, path.join(workDir, `${spec.name}.mp4`));
    const sampled = await sampleFile(rendered.file, spec.name);
    const recall = await detectionRecall(sampled, rendered.truth, detector);
    // TRACKING_ONLY_NOW=1 skips the trackers of before (while tuning).
    for (const [tracker, config] of Object.entries(TRACKERS).filter(([name]) => !process.env.TRACKING_ONLY_NOW || name === NOW)) {
      // The trackers of before had no identity model; the current one has the pack's, as the stage does
      // (TRACKING_NO_IDENTITY=1: without it, as with a pack that has none).
      const identity = tracker === NOW && !process.env.TRACKING_NO_IDENTITY ? detector.identity : undefined;
      const before = identity ? { ...identity.stats } : undefined;
      const tracked = await trackSampledFile(sampled, detector, config, identity);
      if (identity && before) {
        identityCost.frames += sampled.frames.length;
        for (const frame of sampled.frames) identityCost.faces += (await detector.detect(await decodeFrame(frame.jpeg))).length;
        identityCost.described += identity.stats.faces - before.faces;
        identityCost.runs += identity.stats.runs - before.runs;
        identityCost.ms += identity.stats.ms - before.ms;
      }
      if (tracker === NOW) await timeTracking(sampled, detector, config);
      const frames = tracked.map((t) => ({ truth: rendered.truth[t.seq - 1] ?? [], tracked: t.faces }));
      const metrics = motMetrics(frames);
      if (process.env.TRACKING_DEBUG && tracker === NOW) {
        for (const f of frames) {
          const pairs = f.truth.map((t) => {
            const best = f.tracked.map((h) => ({ h, o: iou(h.box, t.box) })).sort((a, b) => b.o - a.o)[0];
            return `${t.id.split(':')[1]}=${best && best.o >= 0.5 ? best.h.id : '-'}${best ? '(' + best.o.toFixed(2) + ')' : ''}`;
          });
          console.log(
            '   ',
            pairs.join(' '),
            '| tracked',
            f.tracked
              .map((h) => `${h.id}@${Math.round(h.box.x)},${Math.round(h.box.y)},${Math.round(h.box.width)}x${Math.round(h.box.height)}`)
              .join(' '),
          );
        }
      }
      results.push({ scene: spec.name, sampledFrames: sampled.frames.length, detectionRecall: recall, tracker, metrics });
      console.log(
        `${spec.name.padEnd(18)} ${tracker.padEnd(45)} detected ${recall.toFixed(3)}  IDF1 ${metrics.idf1.toFixed(3)}  IDSW ${metrics.idSwitches}  FM ${metrics.fragmentations}  ids ${metrics.trackIds}/${metrics.truthTracks}  on two people ${metrics.idsOnSeveralPeople}`,
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
    identity: detector.identity
      ? {
          facesDetected: identityCost.faces,
          facesDescribed: identityCost.described,
          sharedDescribed: identityCost.described / Math.max(1, identityCost.faces),
          msPerFace: identityCost.ms / Math.max(1, identityCost.described),
          msPerFrame: identityCost.ms / Math.max(1, identityCost.frames),
        }
      : null,
  };
  if (!only && !detectionsCache && !process.env.TRACKING_CONFIG && !process.env.TRACKING_ONLY_NOW && !process.env.TRACKING_NO_IDENTITY) {
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
        .map((t) => `${t}: IDF1 / IDSW / FM`)
        .join(' | ') +
      ' |',
    '|---|---|' +
      Object.keys(TRACKERS)
        .map(() => '---')
        .join('|') +
      '|',
    ...allScenes().flatMap((spec) => {
      const rows = results.filter((r) => r.scene === spec.name);
      if (rows.length === 0) return [];
      return [
        `| ${spec.name} | ${rows[0]!.sampledFrames} | ${rows.map((r) => `${pct(r.metrics.idf1)} / ${r.metrics.idSwitches} / ${r.metrics.fragmentations}`).join(' | ')} |`,
      ];
    }),
    '',
    `Tracking (appearance descriptors, cut signature, matching) costs ${cost.trackingMsPerFrame.toFixed(2)} ms per frame against ${cost.detectionMsPerFrame.toFixed(0)} ms for detection. ` +
      (cost.identity
        ? `The identity model (face recognition net, current tracker only) described ${cost.identity.facesDescribed} of ${cost.identity.facesDetected} detected faces (${pct(cost.identity.sharedDescribed)}: only those near another face or track, or matchable on appearance alone) at ${cost.identity.msPerFace.toFixed(1)} ms per face described, ${cost.identity.msPerFrame.toFixed(1)} ms per frame on average (one batched run per frame, on its inference thread). `
        : 'The pack has no identity model: the cheap descriptor alone. ') +
      `Measured on ${machine()}, ${new Date().toISOString().slice(0, 10)}; \`npm run bench:tracking\`, results in \`bench/results/tracking.json\`.`,
  ];
  if (!only && !detectionsCache && !process.env.TRACKING_CONFIG && !process.env.TRACKING_ONLY_NOW && !process.env.TRACKING_NO_IDENTITY)
    updateReadme('tracking', lines.join('\n'));
  console.log(lines.join('\n'));
} finally {
  if (!keptVideos) rmSync(workDir, { recursive: true, force: true });
}
