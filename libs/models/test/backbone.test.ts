// The default pack's backbone (face-api's expression classifier) on the pipeline's own face path:
// the fused detector's box, then preprocessFace with the manifest's crop and preprocessing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { EMOTION_LABELS, ModelSession, preprocessFace, tensorSettingsOf, toReferenceProbabilities, type EmotionLabel } from '@emostream/shared';
import { buildDefaultPack, DEFAULT_MODE } from '../src/default-pack.js';
import { decodeImage } from '../src/media.js';
import { detectWith, openDefaultDetectors } from '../src/recall.js';
import { dataDir } from '../src/test-media.js';

const STILLS: Record<string, EmotionLabel> = {
  angry: 'Anger', disgusted: 'Disgust', fearful: 'Fear', happy: 'Happiness', neutral: 'Neutral', sad: 'Sadness', surprised: 'Surprise',
};

describe('default pack backbone', () => {
  it('labels six of the seven faceapi stills as named; disgusted reads as Anger (face-api itself agrees)', async (t: TestContext) => {
    const pack = buildDefaultPack();
    const backbone = pack.manifest.models.backbone;
    const settings = tensorSettingsOf({ input: backbone.input, preprocessing: { scale: 1, fit: 'stretch', ...backbone.preprocessing } });
    const session = await ModelSession.create(pack.files.get(backbone.file)!, { warmUp: false });
    const models = await openDefaultDetectors();
    const order = pack.manifest.labels.map((l) => (EMOTION_LABELS as readonly string[]).indexOf(l));
    const labels: Record<string, string> = {};
    for (const name of Object.keys(STILLS)) {
      const image = await decodeImage(join(dataDir(), `stills/faceapi_${name}.jpg`));
      const [face] = await detectWith(models, DEFAULT_MODE, image);
      assert.ok(face);
      const input = new Float32Array(112 * 112 * 3);
      const box = { x: face.x1, y: face.y1, width: face.x2 - face.x1, height: face.y2 - face.y1 };
      preprocessFace(image, box, { expand: 1, square: false, ...backbone.crop }, settings, input);
      const out = await session.run({ image: { data: input, dims: [1, 112, 112, 3] } });
      const probs = toReferenceProbabilities(out.probs!.data, order);
      labels[name] = EMOTION_LABELS[probs.indexOf(Math.max(...probs))]!;
      assert.equal(out.features!.dims.join(), '1,256');
    }
    t.diagnostic(JSON.stringify(labels));
    assert.deepEqual(labels, { ...STILLS, disgusted: 'Anger' });
  });
});
