// A model taking its image input as bytes (withByteImageInput) must see exactly the float tensor
// writeTensor writes: checked on an identity model, which returns what its original input receives.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ModelSession, withByteImageInput, writeTensor, type TensorSettings } from '@emostream/vision';
import { OnnxGraphBuilder } from '../src/onnx/builder.js';

const [width, height, batch] = [7, 5, 2]; // not square, so a wrong layout cannot pass

function identityModel(layout: 'NHWC' | 'NCHW'): Uint8Array {
  const g = new OnnxGraphBuilder('identity');
  const shape = layout === 'NHWC' ? ['N', height, width, 3] : ['N', 3, height, width];
  const x = g.addInput('image', 'float32', shape);
  g.addOutput(g.op('Identity', [x], {}, 'seen'), 'float32', shape);
  return g.toBytes();
}

const cases: (Omit<TensorSettings, 'resize' | 'inputSize'> & { name: string })[] = [
  { name: 'EMO-AffectNet (BGR, VGGFace2 means, NHWC)', colorOrder: 'BGR', mean: [91.4953, 103.8827, 131.0912], scale: 1, layout: 'NHWC' },
  { name: 'the default pack (RGB, no mean, NHWC)', colorOrder: 'RGB', mean: [0, 0, 0], scale: 1, layout: 'NHWC' },
  { name: 'ImageNet-like (RGB, means and a scale, NCHW)', colorOrder: 'RGB', mean: [123.675, 116.28, 103.53], scale: 1 / 58.395, layout: 'NCHW' },
  { name: 'BGR and a scale, NCHW', colorOrder: 'BGR', mean: [104, 117, 123], scale: 0.017, layout: 'NCHW' },
];

describe('a backbone taking its crops as bytes', () => {
  for (const { name, ...rest } of cases) {
    it(`prepares them inside the graph to the same bits as writeTensor: ${name}`, async () => {
      const settings: TensorSettings = { ...rest, resize: 'nearest', inputSize: { width, height } };
      const session = await ModelSession.create(withByteImageInput(identityModel(settings.layout), 'image', settings), {
        warmUp: false,
        inferenceThread: false,
      });
      try {
        assert.deepEqual(
          session.inputs.map((i) => [i.name, i.dtype, i.shape]),
          [['image', 'uint8', [-1, height, width, 3]]],
        );
        const per = width * height * 3;
        // Every byte value, in every channel and position, over the batch.
        const crops = Uint8Array.from({ length: batch * per }, (_, i) => (i * 37 + (i >> 8)) % 256);
        const expected = new Float32Array(batch * per);
        for (let b = 0; b < batch; b++)
          writeTensor({ width, height, data: crops.subarray(b * per, (b + 1) * per) }, settings, expected, b * per);
        const out = await session.run({ image: { data: crops, dims: [batch, height, width, 3] } });
        assert.deepEqual(out['seen']!.dims, settings.layout === 'NHWC' ? [batch, height, width, 3] : [batch, 3, height, width]);
        const differing = out['seen']!.data.findIndex((v, i) => !Object.is(v, expected[i]));
        assert.equal(differing, -1, `value ${differing}: ${out['seen']!.data[differing]} from the graph, ${expected[differing]} from writeTensor`);
      } finally {
        await session.release();
      }
    });
  }

  it('refuses a model whose input is not the float image its preprocessing describes, naming it', () => {
    const settings: TensorSettings = { colorOrder: 'RGB', mean: [0, 0, 0], scale: 1, layout: 'NCHW', resize: 'nearest', inputSize: { width, height } };
    assert.throws(() => withByteImageInput(identityModel('NHWC'), 'image', settings), /input "image" is not float32 \[N, 3, 5, 7\] \(NCHW/);
    assert.throws(() => withByteImageInput(identityModel('NCHW'), 'pixels', settings), /no 4-dimensional image input "pixels"/);
  });
});
