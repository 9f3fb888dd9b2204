// Fidelity to PyTorch: the authors' PyTorch modules with seeded weights, saved as state dicts
// (zip, legacy and TorchScript) by scripts/make_torch_fixtures.py, are imported through our
// checkpoint reader and ONNX builders, and run in onnxruntime on real face crops that the
// pipeline's own preprocessing cuts from ../shared/data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { clampBox, crop, loadPack, preprocessFace, resize, tensorSettingsOf, type RgbImage } from '@emostream/vision';
import { RESNET50_SPEC } from '../src/emo-affectnet/backbone.js';
import { importEmoAffectNet } from '../src/emo-affectnet/import.js';
import { buildTemporal } from '../src/emo-affectnet/temporal.js';
import { TorchWeightSource, backboneSpecFromTorch, temporalSpecFromTorch } from '../src/emo-affectnet/torch-weights.js';
import { decodeImage, decodeVideo } from '../src/media.js';
import { readTorchCheckpoint } from '../src/pytorch/checkpoint.js';
import { hasTestMedia, sharedData } from '@emostream/shared/testing';
import { maxAbsDiff } from './helpers/formula-input.js';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/torch/${name}`, import.meta.url));
/** A fixture of scripts/make_torch_fixtures.py: the crops or windows PyTorch was given, and what it computed. */
interface TorchFixture {
  crops: CropRecord[];
  features: number[][];
  probs: number[][];
  windows: number[][][];
}
const readJson = (name: string) => JSON.parse(readFileSync(fixture(name), 'utf8')) as TorchFixture;

interface CropRecord {
  file: string;
  frame: number;
  box: [number, number, number, number];
  sha256: string;
}

async function frameOf(record: CropRecord): Promise<RgbImage> {
  const path = sharedData(record.file);
  return record.file.endsWith('.flv') ? decodeVideo(path, 480, 360)[record.frame]! : decodeImage(path);
}

test('an imported PyTorch backbone + LSTM pack (1/16-width ResNet50) matches PyTorch within 1e-4 on real face crops', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'emostream-torch-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const [imported] = await importEmoAffectNet({ backbone: fixture('backbone_w16.pt'), temporal: [fixture('temporal_small.pt')], out });
  assert.equal(imported!.manifest.name, 'emo-affectnet-temporal-small');
  const pack = await loadPack(imported!.dir);
  t.after(() => Promise.all(Object.values(pack.sessions).map((s) => s.release())));

  const expected = readJson('backbone_w16.json');
  const backbone = pack.manifest.models.backbone;
  const settings = tensorSettingsOf(backbone);
  const size = settings.inputSize.width * settings.inputSize.height * 3;
  // The fixture's stills are compared where they are (../shared/data); the shipped CREMA-D crops always are.
  const rows = (expected.crops).map((record, row) => ({ record, row })).filter(({ record }) => hasTestMedia(record.file));
  const left = (expected.crops).filter((record) => !hasTestMedia(record.file));
  if (left.length > 0) t.diagnostic(`not compared (media not shipped, no ../shared/data): ${left.map((r) => r.file).join(', ')}`);
  assert.ok(rows.some(({ record }) => record.file.startsWith('labelled/')), 'the shipped CREMA-D crops are always compared');
  const records = rows.map(({ record }) => record);
  const input = new Float32Array(records.length * size);
  for (const [i, record] of records.entries()) {
    const frame = await frameOf(record);
    const [x1, y1, x2, y2] = record.box;
    const box = { x: x1, y: y1, width: x2 - x1, height: y2 - y1 };
    // The crop the pipeline makes must be the one PyTorch was given, byte for byte.
    const pixels = resize(crop(frame, clampBox(box, frame.width, frame.height)), 224, 224, settings.resize);
    assert.equal(createHash('sha256').update(pixels.data).digest('hex'), record.sha256, `crop of ${record.file} frame ${record.frame} differs from the fixture's`);
    preprocessFace(frame, box, backbone.crop, settings, input, i * size);
  }
  const result = await pack.sessions.backbone!.run({ [backbone.input.name]: { data: input, dims: [records.length, 224, 224, 3] } });
  const featuresError = maxAbsDiff(result[backbone.outputs.features.name]!.data, rows.flatMap(({ row }) => expected.features[row]!));
  const probsError = maxAbsDiff(result[backbone.outputs.probs.name]!.data, rows.flatMap(({ row }) => expected.probs[row]!));
  t.diagnostic(`max |ONNX − PyTorch| on ${records.length} real crops: features ${featuresError.toExponential(2)}, probs ${probsError.toExponential(2)}`);
  assert.ok(featuresError <= 1e-4, `features differ by ${featuresError}`);
  assert.ok(probsError <= 1e-4, `probs differ by ${probsError}`);

  const lstm = readJson('temporal_small.json');
  const temporal = pack.manifest.models.temporal!;
  const windows = Float32Array.from(lstm.windows.flat(2));
  const probs = await pack.sessions.temporal!.run({ [temporal.input.name]: { data: windows, dims: [lstm.windows.length, 10, 64] } });
  const lstmError = maxAbsDiff(probs[temporal.outputs.probs.name]!.data, lstm.probs.flat());
  t.diagnostic(`max |ONNX − PyTorch| on LSTM probabilities (windows of real-crop features, one with an all-zero step): ${lstmError.toExponential(2)}`);
  assert.ok(lstmError <= 1e-5, `LSTM output differs by ${lstmError}`);
});

for (const [file, format] of [['temporal_small_legacy.pt', 'legacy'], ['temporal_small_script.pt', 'torchscript']] as const) {
  test(`an LSTM saved in PyTorch's ${format} format reads the same tensors and matches PyTorch within 1e-5`, async (t) => {
    const zip = await readTorchCheckpoint(fixture('temporal_small.pt'));
    const other = await readTorchCheckpoint(fixture(file));
    assert.equal(zip.format, 'zip');
    assert.equal(other.format, format);
    assert.deepEqual([...other.tensors.keys()], [...zip.tensors.keys()]);
    for (const [name, tensor] of zip.tensors) assert.deepEqual(other.tensors.get(name)!.toFloat32(), tensor.toFloat32(), name);

    const source = new TorchWeightSource(other, 'temporal');
    const session = await ort.InferenceSession.create(buildTemporal(source, temporalSpecFromTorch(source), { masking: false }));
    t.after(() => session.release());
    const lstm = readJson('temporal_small.json');
    const windows = Float32Array.from(lstm.windows.flat(2));
    const out = await session.run({ window: new ort.Tensor('float32', windows, [lstm.windows.length, 10, 64]) });
    assert.ok(maxAbsDiff(out['probs']!.data as Float32Array, lstm.probs.flat()) <= 1e-5);
  });
}

test('the backbone widths and block counts are read from the state dict', async () => {
  const source = new TorchWeightSource(await readTorchCheckpoint(fixture('backbone_w16.pt')), 'backbone');
  const spec = backboneSpecFromTorch(source);
  assert.equal(spec.stem, 4);
  assert.deepEqual(spec.stages.map((s) => s.blocks), RESNET50_SPEC.stages.map((s) => s.blocks));
  assert.deepEqual(spec.stages.map((s) => s.filters), RESNET50_SPEC.stages.map((s) => s.filters.map((f) => f / 16)));
  assert.deepEqual([spec.features, spec.classes], [64, 7]);
});
