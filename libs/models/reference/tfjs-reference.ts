// The source libraries run as their authors ship them, on @tensorflow/tfjs with the wasm backend:
// face-api's own networks (its node-wasm build) and human's BlazeFace graph model.
//
// Typed, not `any`: each module is loaded with require (face-api's node-wasm build is CommonJS and must share
// @tensorflow/tfjs's one instance, so the ESM entries are not an option), taken as `unknown`, and narrowed by
// checking what this file and its callers use. face-api is typed by its own declarations, @tensorflow/tfjs and the
// wasm backend by theirs; face-api's declarations bundle their own copy of tfjs-core's types, so a tensor handed to
// face-api is made with `faceapi.tf` where the two copies disagree (extractFaceTensors).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type * as Tfjs from '@tensorflow/tfjs';
import type * as TfjsWasm from '@tensorflow/tfjs-backend-wasm';
import type * as FaceApi from '@vladmandic/face-api';
import { packageDir } from '../src/packages.js';

const require = createRequire(import.meta.url);

/** True when `value` is an object whose `names` are all functions. */
function hasFunctions(value: unknown, names: readonly string[]): value is object {
  return typeof value === 'object' && value !== null && names.every((name) => typeof Reflect.get(value, name) === 'function');
}

function isTfjs(value: unknown): value is typeof Tfjs {
  return (
    hasFunctions(value, ['engine', 'setBackend', 'getBackend', 'ready', 'loadGraphModel', 'tensor3d', 'tensor4d', 'sub', 'div', 'concat']) &&
    hasFunctions(Reflect.get(value, 'io'), ['fromMemory'])
  );
}

function isTfjsWasm(value: unknown): value is typeof TfjsWasm {
  return hasFunctions(value, ['setWasmPaths']);
}

function isFaceApi(value: unknown): value is typeof FaceApi {
  if (!hasFunctions(value, ['detectAllFaces', 'extractFaceTensors', 'toNetInput', 'SsdMobilenetv1Options'])) return false;
  const nets: unknown = Reflect.get(value, 'nets');
  return (
    typeof nets === 'object' &&
    nets !== null &&
    ['ssdMobilenetv1', 'tinyFaceDetector', 'faceExpressionNet'].every((net) =>
      hasFunctions(Reflect.get(nets, net), ['loadFromDisk', 'forwardInput', net === 'faceExpressionNet' ? 'predictExpressions' : 'locateFaces']),
    )
  );
}

const sameObject = (a: unknown, b: unknown): boolean => a === b;

function load<T>(id: string, guard: (value: unknown) => value is T): T {
  const loaded: unknown = require(id);
  if (!guard(loaded)) throw new Error(`${id} does not export what the reference uses (a changed version?)`);
  return loaded;
}

export const tf = load('@tensorflow/tfjs', isTfjs);
export const faceapi = load('@vladmandic/face-api/dist/face-api.node-wasm.js', isFaceApi);
// face-api's node-wasm build requires @tensorflow/tfjs itself and re-exports it as faceapi.tf (a copy of the
// namespace, the same engine): one engine, so one backend, for both.
const faceApiTf: unknown = faceapi.tf;
if (!isTfjs(faceApiTf) || !sameObject(faceApiTf.engine(), tf.engine())) {
  throw new Error('face-api runs on another @tensorflow/tfjs engine than the reference');
}

const FACE_API_MODELS = join(packageDir('@vladmandic/face-api'), 'model');
const HUMAN_MODELS = join(packageDir('@vladmandic/human'), 'models');

let ready: Promise<void> | undefined;

/** Selects the wasm backend (its .wasm files from the package's dist folder) and loads face-api's nets. */
export function initReference(): Promise<void> {
  ready ??= (async () => {
    const wasm = load('@tensorflow/tfjs-backend-wasm', isTfjsWasm);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend did not initialise');
    await tf.ready();
    if (tf.getBackend() !== 'wasm') throw new Error(`tfjs runs on ${tf.getBackend()}, not wasm`);
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(FACE_API_MODELS);
    await faceapi.nets.tinyFaceDetector.loadFromDisk(FACE_API_MODELS);
    await faceapi.nets.faceExpressionNet.loadFromDisk(FACE_API_MODELS);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(FACE_API_MODELS);
  })();
  return ready;
}

/** The parts of a tfjs model.json that loading from memory needs. */
interface GraphModelJson {
  modelTopology: object;
  weightsManifest: { weights: Tfjs.io.WeightsManifestEntry[] }[];
}

function isGraphModelJson(value: unknown): value is GraphModelJson {
  if (typeof value !== 'object' || value === null) return false;
  const topology: unknown = Reflect.get(value, 'modelTopology');
  const manifest: unknown = Reflect.get(value, 'weightsManifest');
  return (
    typeof topology === 'object' &&
    topology !== null &&
    Array.isArray(manifest) &&
    manifest.every((group: unknown) => typeof group === 'object' && group !== null && Array.isArray(Reflect.get(group, 'weights')))
  );
}

/** human's BlazeFace graph model, loaded from memory (tfjs has no file:// loader without tfjs-node). */
export function loadBlazeFaceGraphModel(): Promise<Tfjs.GraphModel> {
  const file = join(HUMAN_MODELS, 'blazeface.json');
  const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
  if (!isGraphModelJson(json) || json.weightsManifest.length !== 1) throw new Error(`${file}: not a one-group tfjs graph model`);
  const bin = readFileSync(join(HUMAN_MODELS, 'blazeface.bin'));
  const weightData = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length);
  return tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest[0]!.weights,
      weightData,
    }),
  );
}

/** A [1, S, S, 3] float tensor from NHWC data. */
export function tensor(data: Float32Array, size: number): Tfjs.Tensor4D {
  return tf.tensor4d(data, [1, size, size, 3], 'float32');
}
