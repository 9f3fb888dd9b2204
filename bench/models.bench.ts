/**
 * `npm run bench:models` — CPU latency and throughput of every model at batch 1, 8 and 32: the default
 * pack's detectors and expression backbone, and the synthetic EMO-AffectNet ResNet50 and LSTM (the
 * real compute cost of EMO-AffectNet). Each through the project's ModelSession wrapper and, in the
 * same run, a bare onnxruntime `session.run` on pre-made tensors: the ratio is the wrapper's overhead.
 * Writes bench/results/models.json and the README table.
 */
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { DEFAULT_MODELS_DIR, ModelSession, readDetectionConfig, readPack, spinningEntries } from '@emostream/vision';
import { buildSyntheticPack } from '@emostream/models';
import { machine, resultsPath, updateReadme } from './report.js';

const BATCHES = [1, 8, 32];
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

interface ModelUnderTest {
  name: string;
  file: string;
  input: string;
  /** Shape of one item (without the batch). */
  item: number[];
  unit: string;
}

async function modelsToMeasure(): Promise<ModelUnderTest[]> {
  const defaultDir = path.join(DEFAULT_MODELS_DIR, 'default');
  if (!existsSync(path.join(defaultDir, 'manifest.json'))) throw new Error('the default pack is missing: run `npm run models` first');
  const syntheticDir = path.resolve('.cache/bench/synthetic');
  if (!existsSync(path.join(syntheticDir, 'manifest.json'))) await buildSyntheticPack(syntheticDir);

  const detection = await readDetectionConfig(defaultDir);
  const models: ModelUnderTest[] = Object.entries(detection.detectors).map(([name, d]) => ({
    name: `default/${name} detector`,
    file: path.join(defaultDir, d.file),
    input: 'image',
    item: [d.inputSize, d.inputSize, 3],
    unit: 'frames',
  }));
  const byRole = async (dir: string, label: string) => {
    const { manifest, files } = await readPack(dir);
    const backbone = manifest.models.backbone;
    models.push({
      name: `${label}/backbone`,
      file: files.backbone!,
      input: backbone.input.name,
      item: backbone.input.shape.slice(1),
      unit: 'faces',
    });
    const temporal = manifest.models.temporal;
    if (temporal)
      models.push({
        name: `${label}/temporal LSTM`,
        file: files.temporal!,
        input: temporal.input.name,
        item: temporal.input.shape.slice(1),
        unit: 'windows',
      });
  };
  await byRole(defaultDir, 'default');
  await byRole(syntheticDir, 'synthetic EMO-AffectNet');
  return models;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function time(run: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

const rows = [];
for (const model of await modelsToMeasure()) {
  const wrapper = await ModelSession.create(model.file, { warmUp: false }, { label: model.name });
  // The bare session has the wrapper's default settings (onnxruntime's threads sleep between runs), so
  // the ratio is the wrapper's own cost; a third session with onnxruntime's default (spinning) shows
  // what the sleeping costs a model called back to back on cores of its own.
  const bare = await ort.InferenceSession.create(model.file, {
    graphOptimizationLevel: 'all',
    executionProviders: ['cpu'],
    extra: spinningEntries(false),
  });
  const spinning = await ort.InferenceSession.create(model.file, { graphOptimizationLevel: 'all', executionProviders: ['cpu'] });
  for (const batch of BATCHES) {
    const dims = [batch, ...model.item];
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => (i % 255) - 128);
    const tensor = new ort.Tensor('float32', data, dims);
    // One warm-up each (first runs allocate), then interleaved runs so both see the same machine.
    await wrapper.run({ [model.input]: { data, dims } });
    await bare.run({ [model.input]: tensor });
    await spinning.run({ [model.input]: tensor });
    const wrapped: number[] = [];
    const plain: number[] = [];
    const spun: number[] = [];
    for (let r = 0; r < RUNS; r += 1) {
      wrapped.push(await time(() => wrapper.run({ [model.input]: { data, dims } })));
      plain.push(await time(() => bare.run({ [model.input]: tensor })));
      spun.push(await time(() => spinning.run({ [model.input]: tensor })));
    }
    const row = {
      model: model.name,
      batch,
      unit: model.unit,
      wrapperMs: median(wrapped),
      bareMs: median(plain),
      wrapperPerSecond: (batch * 1000) / median(wrapped),
      barePerSecond: (batch * 1000) / median(plain),
      overhead: median(wrapped) / median(plain),
      spinningMs: median(spun),
    };
    rows.push(row);
    console.log(
      `${model.name.padEnd(36)} batch ${String(batch).padStart(2)}  ${row.wrapperMs.toFixed(1).padStart(8)} ms  ${row.wrapperPerSecond.toFixed(1).padStart(8)} ${model.unit}/s  (bare ${row.bareMs.toFixed(1)} ms, ×${row.overhead.toFixed(2)})`,
    );
  }
  await wrapper.release();
  await bare.release();
  await spinning.release();
}

const report = { benchmark: 'models', date: new Date().toISOString(), machine: machine(), runs: RUNS, executionProvider: 'cpu', rows };
writeFileSync(resultsPath('models.json'), `${JSON.stringify(report, null, 2)}\n`);
updateReadme(
  'models',
  [
    `CPU (onnxruntime-node, all optimisations), median of ${RUNS} runs after a warm-up; ${report.machine}; ${report.date.slice(0, 10)}. "× bare" is the wrapper's time over a bare \`session.run\` on the same pre-made tensor, both with onnxruntime's threads sleeping between runs (the wrapper's default, \`EMOSTREAM_ORT_SPIN_WAIT=false\`); "spinning ms" is a bare session with onnxruntime's own default.`,
    '',
    '| model | batch | ms per call | items/s | bare ms | × bare | spinning ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.model} | ${r.batch} | ${r.wrapperMs.toFixed(1)} | ${r.wrapperPerSecond.toFixed(1)} ${r.unit}/s | ${r.bareMs.toFixed(1)} | ${r.overhead.toFixed(2)} | ${r.spinningMs.toFixed(1)} |`,
    ),
  ].join('\n'),
);
console.log(`wrote ${resultsPath('models.json')} and the README table`);
