import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { packageDir } from '../src/packages.js';
import { loadWeightsManifest } from '../src/tfjs-graph/weights.js';
import { FACE_API_EXPRESSIONS, REFERENCE_FROM_FACE_API, REFERENCE_LABELS } from '../src/face-api/face-expression.js';
import { EMOTION_LABELS } from '@emostream/shared';

const models = join(packageDir('@vladmandic/face-api'), 'model');

describe('face-api weights', () => {
  it('dequantises uint8 weights as tfjs does: q · scale + min, rounded once to float32', () => {
    const w = loadWeightsManifest(join(models, 'ssd_mobilenetv1_model-weights_manifest.json'));
    // Preprocessor/mul/x is stored as q = 0 with min 2/255 (0.007843137718737125) and scale 1.
    assert.equal(w.get('Preprocessor/mul/x')!.data[0], Math.fround(0.007843137718737125));
    assert.deepEqual(w.get('Output/extra_dim')!.shape, [1, 5118, 4]);
    assert.equal(w.get('Preprocessor/ResizeImage/size')!.data[0], 512);
  });

  it('maps the expression labels onto REFERENCE.md\'s order by name', () => {
    const names: Record<string, string> = { neutral: 'Neutral', happy: 'Happiness', sad: 'Sadness', angry: 'Anger', fearful: 'Fear', disgusted: 'Disgust', surprised: 'Surprise' };
    assert.deepEqual([...REFERENCE_LABELS], [...EMOTION_LABELS]);
    REFERENCE_FROM_FACE_API.forEach((faceApiIndex, i) => assert.equal(names[FACE_API_EXPRESSIONS[faceApiIndex]], EMOTION_LABELS[i]));
  });
});
