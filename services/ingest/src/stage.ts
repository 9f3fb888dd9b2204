import type { Bus, Logger } from '@emostream/shared';
import type { Registry } from 'prom-client';
import type { IngestConfig, IngestSettings } from './config.js';
import type { RawFramesCopy, VideoInfo } from './ffmpeg-frames.js';
import { IngestMetrics } from './metrics.js';
import { IngestService } from './service.js';
import { StreamRunner, type FrameMessage, type StreamDefinition } from './stream-runner.js';

/** What ingest is given rather than reading it from its config. */
export interface IngestStageDeps {
  bus: Bus;
  registry: Registry;
  logger: Logger;
}

/** Ingest as the service runs it: the streams its replica owns (the streams topic), published as frames. */
export function buildStage(config: Pick<IngestConfig, 'ingest' | 'runtime'>, deps: IngestStageDeps): IngestService {
  return new IngestService({
    ...deps,
    settings: config.ingest,
    topicPrefix: config.runtime.topicPrefix,
    instanceId: config.runtime.instanceId,
    busUnreachableMs: config.runtime.busUnreachableMs,
  });
}

/** One input of `emo run`: where its frames go, and what ffprobe already said of a file. */
export interface InputIo {
  publish(frame: FrameMessage): Promise<void>;
  probed?: VideoInfo;
  /** A file's every decoded frame, raw, for the annotated video (see StreamRunnerDeps.rawFrames). */
  rawFrames?: RawFramesCopy;
}

/**
 * Ingest as `emo run` runs it: each input read straight to the caller's publisher, no streams topic
 * (the inputs are the command line's). The failure that ends an input is the caller's to report, not
 * logged here. One metrics set for every input read.
 */
export function buildInputReader(settings: IngestSettings, deps: Pick<IngestStageDeps, 'registry'>) {
  const metrics = new IngestMetrics(deps.registry);
  return (stream: StreamDefinition, io: InputIo): StreamRunner =>
    new StreamRunner(stream, {
      publish: (frame) => io.publish(frame),
      metrics,
      settings,
      logFinalFailure: false,
      ...(io.probed ? { probed: io.probed } : {}),
      ...(io.rawFrames ? { rawFrames: io.rawFrames } : {}),
    });
}
