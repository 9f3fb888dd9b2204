// Diagnostic: how BlazeFace's box relates to the SSD's (the box the expression net was made for) on
// the frames both find one face in, and whether the mapped BlazeFace box gives the SSD box's label.
// Run: node --import tsx libs/models/scripts/box-mapping.ts
import { EMOTION_LABELS } from '@emostream/shared';
import { sharedData } from '@emostream/shared/testing';
import { detectFrame, ModelSession, preprocessFace, tensorSettingsOf, type Detection, type RgbImage } from '@emostream/vision';
import { buildDefaultPack } from '../src/default-pack.js';
import { decodeVideo } from '../src/media.js';
import { openDefaultDetectors } from './recall.js';

const pack = buildDefaultPack();
const backbone = pack.manifest.models.backbone;
const settings = tensorSettingsOf({ input: backbone.input, preprocessing: { scale: 1, fit: 'stretch', ...backbone.preprocessing } });
const expression = await ModelSession.create(pack.files.get(backbone.file)!, { warmUp: false });
const models = await openDefaultDetectors();
const label = async (image: RgbImage, b: Detection) => {
  const input = new Float32Array(112 * 112 * 3);
  preprocessFace(image, { x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 }, { expand: 1, square: false, ...backbone.crop }, settings, input);
  const p = Array.from((await expression.run({ image: { data: input, dims: [1, 112, 112, 3] } })).probs!.data as Float32Array);
  return { label: EMOTION_LABELS[p.indexOf(Math.max(...p))]!, p: Math.max(...p) };
};
const rows: { dx: number; dy: number; sw: number; sh: number }[] = [];
const pairs: { image: RgbImage; ssd: Detection; bf: Detection; name: string }[] = [];
for (const clip of ['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad']) {
  const frames = decodeVideo(sharedData(`labelled/cremad_1001_DFA_${clip}.flv`), 480, 360);
  for (let i = 0; i < frames.length; i += 3) {
    const image = frames[i]!;
    const [ssd] = await detectFrame(models.get('ssd')!, image);
    const [bf] = await detectFrame(models.get('blazeface')!, image);
    if (!ssd || !bf) continue;
    const w = bf.x2 - bf.x1, h = bf.y2 - bf.y1;
    rows.push({
      dx: ((ssd.x1 + ssd.x2) / 2 - (bf.x1 + bf.x2) / 2) / w,
      dy: ((ssd.y1 + ssd.y2) / 2 - (bf.y1 + bf.y2) / 2) / h,
      sw: (ssd.x2 - ssd.x1) / w,
      sh: (ssd.y2 - ssd.y1) / h,
    });
    pairs.push({ image, ssd, bf, name: `${clip} #${i + 1}` });
  }
}
const stat = (k: keyof (typeof rows)[0]) => {
  const v = rows.map((r) => r[k]).sort((a, b) => a - b);
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  return { mean, sd, min: v[0]!, max: v.at(-1)!, median: v[Math.floor(v.length / 2)]! };
};
const fit = { dx: stat('dx').median, dy: stat('dy').median, sw: stat('sw').median, sh: stat('sh').median };
console.log(JSON.stringify({ n: rows.length, dx: stat('dx'), dy: stat('dy'), sw: stat('sw'), sh: stat('sh') }, null, 1));
let same = 0, sameRaw = 0;
const iou = (a: Detection, b: Detection) => {
  const ix = Math.max(0, Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1)), iy = Math.max(0, Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1));
  const i = ix * iy; return i / ((a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - i);
};
let iouSum = 0;
for (const { image, ssd, bf, name } of pairs) {
  const w = bf.x2 - bf.x1, h = bf.y2 - bf.y1;
  const cx = (bf.x1 + bf.x2) / 2 + fit.dx * w, cy = (bf.y1 + bf.y2) / 2 + fit.dy * h;
  const mapped = { x1: cx - (fit.sw * w) / 2, x2: cx + (fit.sw * w) / 2, y1: cy - (fit.sh * h) / 2, y2: cy + (fit.sh * h) / 2, score: bf.score };
  const [a, b, c] = [await label(image, ssd), await label(image, mapped), await label(image, bf)];
  iouSum += iou(ssd, mapped);
  if (a.label === b.label) same++; else console.log(`${name}: ssd ${a.label} ${(a.p * 100).toFixed(0)} %, mapped ${b.label} ${(b.p * 100).toFixed(0)} %, iou ${iou(ssd, mapped).toFixed(2)}`);
  if (a.label === c.label) sameRaw++;
}
console.log(`labels equal to the SSD box's: mapped ${same}/${pairs.length}, raw BlazeFace ${sameRaw}/${pairs.length}; mean IoU mapped vs SSD ${(iouSum / pairs.length).toFixed(3)}`);
