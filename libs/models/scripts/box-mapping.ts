// Diagnostic: how another detector's box relates to the SSD's (the box the expression net was made
// for) on the CREMA-D frames where both find one face, the transform that maps one to the other
// (median centre shift and size ratio, fitted on the even sampled frames), and whether the mapped box
// gives the SSD box's expression label on the odd ones (held out) and on the seven faceapi stills.
// Run: node --import tsx libs/models/scripts/box-mapping.ts [mode] (a mode of recall.ts; default retinaface@whole)
import { EMOTION_LABELS } from '@emostream/shared';
import { sharedData } from '@emostream/shared/testing';
import { mapBox, ModelSession, preprocessFace, tensorSettingsOf, type BoxTransform, type Detection, type RgbImage } from '@emostream/vision';
import { buildDefaultPack } from '../src/default-pack.js';
import { decodeImage, decodeVideo } from '../src/media.js';
import { detectWith, MODES, openDefaultDetectors } from './recall.js';

const modeName = process.argv[2] ?? 'retinaface@whole';
const mode = MODES.find((m) => m.name === modeName);
if (!mode) throw new Error(`no mode "${modeName}" in recall.ts: ${MODES.map((m) => m.name).join(', ')}`);
// The raw boxes of the mode's detectors: its own transform (if any) left out.
const raw = { ...mode, passes: mode.passes.map(({ boxTransform: _, ...p }) => p) };
const ssdMode = MODES.find((m) => m.name === 'ssd')!;
const pack = buildDefaultPack();
const backbone = pack.manifest.models.backbone;
const settings = tensorSettingsOf({ input: backbone.input, preprocessing: { scale: 1, fit: 'stretch', ...backbone.preprocessing } });
const expression = await ModelSession.create(pack.files.get(backbone.file)!, { warmUp: false });
const models = await openDefaultDetectors();
const label = async (image: RgbImage, b: Detection) => {
  const input = new Float32Array(112 * 112 * 3);
  preprocessFace(image, { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 }, { expand: 1, square: false, ...backbone.crop }, settings, input);
  const p = Array.from((await expression.run({ image: { data: input, dims: [1, 112, 112, 3] } })).probs!.data);
  return { label: EMOTION_LABELS[p.indexOf(Math.max(...p))]!, p: Math.max(...p), probs: p };
};
/** The label the clip was recorded for (CREMA-D's file name), or the still's name. */
const TRUTH: Record<string, string> = { anger: 'Anger', angry: 'Anger', disgust: 'Disgust', disgusted: 'Disgust', fear: 'Fear', fearful: 'Fear', happy: 'Happiness', neutral: 'Neutral', sad: 'Sadness', surprised: 'Surprise' };
const truthOf = (name: string) => TRUTH[name.replace(/^faceapi_/, '').split(' ')[0]!]!;
interface Pair { image: RgbImage; ssd: Detection; other: Detection; name: string; fit: boolean }
const pairs: Pair[] = [];
for (const clip of ['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad']) {
  const frames = decodeVideo(sharedData(`labelled/cremad_1001_DFA_${clip}.flv`), 480, 360);
  for (let i = 0; i < frames.length; i += 3) {
    const image = frames[i]!;
    const [ssd] = await detectWith(models, ssdMode, image);
    const [other] = await detectWith(models, raw, image);
    if (ssd && other) pairs.push({ image, ssd, other, name: `${clip} #${i + 1}`, fit: (i / 3) % 2 === 0 });
  }
}
for (const e of ['angry', 'disgusted', 'fearful', 'happy', 'neutral', 'sad', 'surprised']) {
  const image = await decodeImage(sharedData(`stills/faceapi_${e}.jpg`));
  const [ssd] = await detectWith(models, ssdMode, image);
  const [other] = await detectWith(models, raw, image);
  if (ssd && other) pairs.push({ image, ssd, other, name: `faceapi_${e}`, fit: false });
}
const rows = pairs.filter((p) => p.fit).map(({ ssd, other }) => {
  const w = other.x2 - other.x1, h = other.y2 - other.y1;
  return {
    dx: ((ssd.x1 + ssd.x2) / 2 - (other.x1 + other.x2) / 2) / w,
    dy: ((ssd.y1 + ssd.y2) / 2 - (other.y1 + other.y2) / 2) / h,
    sw: (ssd.x2 - ssd.x1) / w,
    sh: (ssd.y2 - ssd.y1) / h,
  };
});
const stat = (k: keyof (typeof rows)[0]) => {
  const v = rows.map((r) => r[k]).sort((a, b) => a - b);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean: +mean.toFixed(4), sd: +sd.toFixed(4), min: +v[0]!.toFixed(4), max: +v.at(-1)!.toFixed(4), median: +v[Math.floor(v.length / 2)]!.toFixed(4) };
};
const fit: BoxTransform = { dx: stat('dx').median, dy: stat('dy').median, sw: stat('sw').median, sh: stat('sh').median };
console.log(JSON.stringify({ mode: modeName, fittedOn: rows.length, dx: stat('dx'), dy: stat('dy'), sw: stat('sw'), sh: stat('sh') }, null, 1));
console.log(`fit (medians): ${JSON.stringify(fit)}`);
const iou = (a: Detection, b: Detection) => {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)), iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const i = ix * iy; return i / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - i);
};
for (const [group, of] of [['CREMA-D held out', (p: Pair) => !p.fit && !p.name.startsWith('faceapi')], ['CREMA-D fit', (p: Pair) => p.fit], ['faceapi stills', (p: Pair) => p.name.startsWith('faceapi')]] as const) {
  let same = 0, sameRaw = 0, iouSum = 0, iouRaw = 0, n = 0;
  const right = [0, 0, 0];
  const clipMeans = new Map<string, number[][]>();
  for (const { image, ssd, other, name } of pairs.filter(of)) {
    const mapped = mapBox(other, fit, image);
    const [a, b, c] = [await label(image, ssd), await label(image, mapped), await label(image, other)];
    [a, b, c].forEach((x, k) => { if (x.label === truthOf(name)) right[k]!++; });
    const sums = clipMeans.get(truthOf(name)) ?? clipMeans.set(truthOf(name), [0, 1, 2].map(() => new Array<number>(7).fill(0))).get(truthOf(name))!;
    [a, b, c].forEach((x, k) => x.probs.forEach((v, i) => (sums[k]![i]! += v)));
    n++; iouSum += iou(ssd, mapped); iouRaw += iou(ssd, other);
    if (a.label === b.label) same++; else console.log(`  ${name}: ssd ${a.label} ${(a.p * 100).toFixed(0)} %, mapped ${b.label} ${(b.p * 100).toFixed(0)} %, iou ${iou(ssd, mapped).toFixed(2)}`);
    if (a.label === c.label) sameRaw++;
  }
  console.log(`${group}: labels equal to the SSD box's: mapped ${same}/${n}, raw ${sameRaw}/${n}; mean IoU with the SSD box: mapped ${(iouSum / n).toFixed(3)}, raw ${(iouRaw / n).toFixed(3)}`);
  console.log(`  the recorded label, per frame: SSD box ${right[0]}/${n}, mapped ${right[1]}/${n}, raw ${right[2]}/${n}`);
  const argmax = (v: number[]) => EMOTION_LABELS[v.indexOf(Math.max(...v))]!;
  console.log(`  mean over each clip's frames (the temporal stage's average): ${[...clipMeans].map(([truth, sums]) => `${truth}: SSD ${argmax(sums[0]!)}, mapped ${argmax(sums[1]!)}, raw ${argmax(sums[2]!)}`).join('; ')}`);
}
process.exit(0);
