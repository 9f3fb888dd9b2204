import { CropEncoding, makeMessage, StageError, topics, type HandlerResult, type StageDefinition } from '@emostream/shared';
import { decodeToRgb, type RgbImage } from '@emostream/vision';
import type { BackboneModel } from './backbone-model.js';
import type { BackboneSettings } from './config.js';
import type { BackboneMetrics } from './metrics.js';
import { MicroBatcher } from './micro-batcher.js';

/** The stage's settings as they are parsed (backboneSettingsSchema: its defaults are the only ones), and its model. */
export interface BackboneStageOptions extends BackboneSettings {
  model: BackboneModel;
  metrics?: BackboneMetrics;
  now?: () => number;
}

/**
 * The backbone stage: the face crops of every frame in a batch — and of concurrent batches of other
 * partitions — go through the model in micro-batches; each face gets its features and static probabilities.
 * A frame without faces flows on with an empty list.
 */
export function backboneStage(options: BackboneStageOptions): StageDefinition<typeof topics.faces.schema> {
  const now = options.now ?? Date.now;
  const batcher = new MicroBatcher<RgbImage, { features: Float32Array; probs: Float32Array }>((crops) => {
    options.metrics?.batchFaces.observe(crops.length);
    const timer = options.metrics?.inferenceSeconds.startTimer();
    return options.model.embed(crops).finally(() => timer?.());
  }, options);

  return {
    name: 'backbone',
    input: topics.faces,
    outputs: [topics.embeddings],
    concurrentPartitions: options.concurrentPartitions,

    async handleBatch(inputs, context): Promise<HandlerResult[]> {
      const fresh = inputs.map((input) => {
        const age = now() - input.value.ref!.capturedAtMs;
        const stale = options.maxFrameAgeMs > 0 && age > options.maxFrameAgeMs && !input.value.ref!.endOfStream;
        if (stale) options.metrics?.framesSkipped.inc({ reason: 'stale' });
        return !stale;
      });
      // Decode every crop first: a bad crop fails only its own frame.
      const decoded = await Promise.all(
        inputs.map(async (input, i) => {
          if (!fresh[i]) return [];
          try {
            return await Promise.all(input.value.faces.map((face) => decodeCrop(face, options.model.inputSize)));
          } catch (error) {
            return error as StageError;
          }
        }),
      );
      const crops = decoded.flatMap((d) => (d instanceof Error ? [] : d));
      const embedded = await batcher.submit(crops).catch((error: unknown) => {
        // A failing model is not the input's fault: retry (redelivery) rather than dead-letter.
        throw new StageError('MODEL_FAILED', `backbone inference failed: ${String(error)}`, { cause: error });
      });
      options.metrics?.faces.inc(crops.length);

      let next = 0;
      return inputs.map((input, i): HandlerResult => {
        const faces = decoded[i]!;
        if (faces instanceof Error) return faces;
        if (!fresh[i]) return [];
        const out = input.value.faces.map((face) => {
          const { features, probs } = embedded[next++]!;
          return {
            trackId: face.trackId,
            ...(face.box ? { box: face.box } : {}),
            score: face.score,
            features: [...features],
            staticProbs: [...probs],
          };
        });
        return [
          context.emit(
            topics.embeddings,
            makeMessage(topics.embeddings, { ref: input.value.ref!, faces: out, endedTrackIds: input.value.endedTrackIds }),
          ),
        ];
      });
    },
  };
}

/** A crop as raw RGB at the model's input size: JPEG on the wire by default, raw RGB for parity runs. */
async function decodeCrop(
  face: { crop: Uint8Array; encoding: CropEncoding; cropWidth: number; cropHeight: number },
  size: { width: number; height: number },
): Promise<RgbImage> {
  if (face.cropWidth !== size.width || face.cropHeight !== size.height) {
    throw new StageError('CROP_SIZE', `crop is ${face.cropWidth}×${face.cropHeight}, the backbone takes ${size.width}×${size.height}`);
  }
  if (face.encoding === CropEncoding.RGB8) {
    if (face.crop.length !== size.width * size.height * 3)
      throw new StageError('CROP_INVALID', `raw crop has ${face.crop.length} bytes, expected ${size.width * size.height * 3}`);
    return { width: size.width, height: size.height, data: face.crop };
  }
  try {
    // Never more pixels than the crop it claims to be: a bigger JPEG is refused from its header, undecoded.
    const image = await decodeToRgb(face.crop, size.width * size.height);
    if (image.width !== size.width || image.height !== size.height) throw new Error(`decoded ${image.width}×${image.height}`);
    return image;
  } catch (error) {
    throw new StageError('CROP_UNDECODABLE', `face crop JPEG cannot be decoded: ${(error as Error).message}`, { cause: error });
  }
}
