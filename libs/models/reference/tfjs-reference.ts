// The source libraries run as their authors ship them, on @tensorflow/tfjs with the wasm backend:
// face-api's own networks (its node-wasm build) and human's BlazeFace graph model.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageDir } from '../src/packages.js';

const require = createRequire(import.meta.url);

// face-api's node-wasm build requires @tensorflow/tfjs itself; the same instance is returned here.
export const faceapi: any = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
export const tf: any = faceapi.tf;

const FACE_API_MODELS = join(packageDir('@vladmandic/face-api'), 'model');
const HUMAN_MODELS = join(packageDir('@vladmandic/human'), 'models');

let ready: Promise<void> | undefined;

/** Selects the wasm backend (its .wasm files from the package's dist folder) and loads face-api's nets. */
export function initReference(): Promise<void> {
  ready ??= (async () => {
    const wasm = require('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend did not initialise');
    await tf.ready();
    if (tf.getBackend() !== 'wasm') throw new Error(`tfjs runs on ${tf.getBackend()}, not wasm`);
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(FACE_API_MODELS);
    await faceapi.nets.tinyFaceDetector.loadFromDisk(FACE_API_MODELS);
    await faceapi.nets.faceExpressionNet.loadFromDisk(FACE_API_MODELS);
  })();
  return ready;
}

/** human's BlazeFace graph model, loaded from memory (tfjs has no file:// loader without tfjs-node). */
export async function loadBlazeFaceGraphModel(): Promise<{ execute(x: unknown): unknown[] }> {
  const json = JSON.parse(readFileSync(join(HUMAN_MODELS, 'blazeface.json'), 'utf8'));
  const bin = readFileSync(join(HUMAN_MODELS, 'blazeface.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest[0].weights,
    weightData,
  }));
}

/** A [1, S, S, 3] float tensor from NHWC data. */
export function tensor(data: Float32Array, size: number): unknown {
  return tf.tensor4d(data, [1, size, size, 3], 'float32');
}
