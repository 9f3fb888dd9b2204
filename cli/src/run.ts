import { warmUpFfmpeg } from '@emostream/ingest';
import type { RunInput } from './inputs.js';
import { startPipeline } from './pipeline.js';
import { RunProgress } from './progress.js';
import { writeFaceTables } from './reports/faces-table.js';
import { writeManifest } from './reports/run-manifest.js';
import { drainDeadline, Slots } from './run-control.js';
import { ingestSettings, probeFile, runInput } from './run-input.js';
import { describe, failedInput } from './run-summary.js';
import type { InputSummary, RunOptions } from './run-types.js';

export type { InputSummary, RunOptions } from './run-types.js';
export { describe } from './run-summary.js';

/**
 * `emo run`: the five stages in this process on the in-memory bus — no broker — over video files and
 * live sources. The same stage code as the services. Per input it writes the reference's CSV report
 * per track, `<name>.events.jsonl` (the public events) and `<name>.annotated.mp4`, and returns (and
 * prints) a summary. Aborting `options.signal` (Ctrl-C) ends every input where it is; what was read
 * is still processed and reported.
 */
export async function runPipeline(inputs: RunInput[], options: RunOptions): Promise<InputSummary[]> {
  const progress = new RunProgress(options.progress);
  const log = options.log ?? ((line: string) => progress.log(line));
  // ffmpeg's own start-up (its capability checks, each file's ffprobe) would otherwise come one call
  // after another once the models are loaded (~0.3 s before the first frame): it overlaps their loading.
  void warmUpFfmpeg();
  const settings = ingestSettings(options);
  const startedAt = new Date();
  const probes = new Map(
    inputs.flatMap((input) => (input.live || input.image || input.problem ? [] : [[input, probeFile(input, settings)] as const])),
  );
  const pipeline = await startPipeline(inputs, options, log, settings);
  const detach = options.attach ? await options.attach(pipeline.bus, pipeline.prefix) : undefined;
  const drainOver = drainDeadline(options);
  // The inputs start while the backbone's pack loads; should it fail to, they stop where they are.
  const modelsFailed = new AbortController();
  const inputOptions = {
    ...options,
    signal: options.signal ? AbortSignal.any([options.signal, modelsFailed.signal]) : modelsFailed.signal,
  };
  try {
    // Images are one frame each and a folder may hold hundreds: a few at a time.
    const imageSlots = new Slots(4);
    const running = Promise.all(
      inputs.map(async (input) => {
        // Known not to be readable (a folder without media, an empty file): it fails as a missing file does.
        if (input.problem) {
          const summary = failedInput(input, new Error(input.problem));
          log(describe(summary));
          return summary;
        }
        const release = input.image ? await imageSlots.acquire() : undefined;
        // One input's failure is its own: the others still run and write all their reports.
        const summary = await runInput(input, pipeline, inputOptions, progress, drainOver.signal, probes.get(input))
          .catch((error: Error): InputSummary => failedInput(input, error))
          .finally(() => release?.());
        if (!modelsFailed.signal.aborted) log(describe(summary));
        return summary;
      }),
    );
    try {
      await Promise.race([pipeline.modelsLoaded, running]);
    } catch (error) {
      // The pack cannot load: the run fails naming why, once the inputs have stopped (without reports).
      modelsFailed.abort();
      drainOver.abort();
      await running;
      throw error;
    }
    const summaries = await running;
    for (const table of writeFaceTables(options.outDir, inputs, summaries)) log(`faces of the images: ${table}`);
    if (summaries.some((s) => s.reports.length > 0)) writeManifest(options, inputs, summaries, { startedAt, settings });
    const signal = options.signal;
    if (options.holdAfterEnd && signal && !signal.aborted) {
      progress.stop();
      log('the inputs have ended; the live view stays up until Ctrl-C');
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    }
    return summaries;
  } finally {
    drainOver.abort();
    progress.stop();
    await detach?.();
    await pipeline.close();
  }
}
