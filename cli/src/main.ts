import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import {
  StageError,
  createBus,
  redactUrl,
  loadConfig,
  packageDir,
  rootLogger,
  runtimeConfigSchema,
  runtimeEnvBindings,
} from '@emostream/shared';
import { DEFAULT_MODELS_DIR, resolvePackDir } from '@emostream/vision';
import { ingestSettingsSchema, putStream } from '@emostream/ingest';
import { expandInputs, InputError } from './inputs.js';
import { serveLiveView } from './live-view.js';
import { runPipeline, type InputSummary } from './run.js';
import { OutFolderError, prepareOutFolder, removeIfEmpty, RUN_MANIFEST } from './reports/run-manifest.js';
import { settingsHelp } from './settings-reference.js';
import { stageSettingsFromEnv } from './stage-settings.js';
import { assertStorableSpec, checkSpec, formatStreamLine, listStreams, listStreamStatuses, printableJson, streamJson } from './streams.js';

const { version } = JSON.parse(readFileSync(path.join(packageDir(import.meta.url), 'package.json'), 'utf8')) as { version: string };
const program = new Command('emo')
  .description('EmoStream: real-time facial emotion recognition on Kafka')
  .version(version, '-v, --version')
  .showHelpAfterError()
  // Usage errors exit 2 (as `emo models` does), everything else 1: commander's own exits go through the catch below.
  .exitOverride();
/** The live sampling rate `emo run` uses unless told: ingest's own default (INGEST_LIVE_SAMPLE_FPS). */
const DEFAULT_LIVE_FPS = ingestSettingsSchema.parse({}).liveSampleFps;

const positiveNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
};

const portOption = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new InvalidArgumentError('expected a TCP port (0 = any free port)');
  return n;
};

const deviceOption = (value: string) => {
  if (value !== 'cpu' && value !== 'cuda') throw new InvalidArgumentError('expected cpu or cuda');
  return value;
};

program
  .command('serve')
  .description('run one pipeline stage as a service (configured by environment, see README)')
  .argument('<stage>', 'ingest, face, backbone, temporal or sink')
  // Listed from the schemas' declarations, so the help names every variable a stage reads.
  .addHelpText('after', () => settingsHelp())
  .action(async (stage: string) => {
    // Each service's main wires its stage and runs until SIGTERM.
    const mains: Record<string, () => Promise<unknown>> = {
      ingest: () => import('@emostream/ingest/main'),
      face: () => import('@emostream/face/main'),
      backbone: () => import('@emostream/backbone/main'),
      temporal: () => import('@emostream/temporal/main'),
      sink: () => import('@emostream/sink/main'),
    };
    const main = mains[stage];
    if (!main) throw new InvalidArgumentError(`unknown stage "${stage}"; available: ${Object.keys(mains).join(', ')}`);
    await main();
  });

program
  .command('run')
  .description(
    'run the whole pipeline in this process (no broker) over videos, images, folders of them, URLs or a webcam; writes reports per input and <out>/run.json. ' +
      'The stages read the same settings as `emo serve` (FACE_*, BACKBONE_*, TEMPORAL_* variables or EMOSTREAM_CONFIG; see README)',
  )
  .argument(
    '<inputs...>',
    'video files (any container ffmpeg reads), images (jpg, png, bmp, webp, tiff), folders of videos and/or images, rtsp:// or http(s):// URLs, webcam[:/dev/videoN]',
  )
  .option('--pack <name|dir>', 'pack of the backbone and temporal model (default, emo-affectnet, synthetic, or a folder)', 'default')
  .option('--detector-pack <name|dir>', 'pack whose detectors find faces (default: FACE_DETECTOR_PACK, else default)')
  .option('--models-dir <dir>', 'folder of named packs', DEFAULT_MODELS_DIR)
  .option('--out <dir>', 'output folder (refused if it holds an earlier run, see --overwrite)', 'emo-output')
  .option('--overwrite', "reuse an --out that holds an earlier run: that run's files (listed in its run.json) are removed first")
  .option('--per-track-csv', "also write the reference's CSV per track, <name>.track<N>.csv, beside <name>.csv")
  .option('--fps <n>', 'sampling rate of live inputs, frames/s (files always use the reference sampling)', positiveNumber, DEFAULT_LIVE_FPS)
  .option('--max-width <px>', 'scale wider frames down (0 = ingest default)', positiveNumber, 0)
  .option('--device <cpu|cuda>', 'where the models run (cuda falls back to cpu with a warning)', deviceOption, 'cpu')
  .option('--features', 'also write <name>.features.jsonl: per track and sampled frame, the backbone features and static probabilities')
  .option('--no-video', 'skip the annotated video of each input (and the annotated copy of each image)')
  .option(
    '--serve <port>',
    'serve the live view (pictures, boxes, timelines) on this port while the inputs run, and after them until Ctrl-C',
    portOption,
  )
  .option(
    '--serve-host <host>',
    'address the live view listens on; beyond loopback it asks for a fresh token, part of the address printed',
    '127.0.0.1',
  )
  .option('--kafka <brokers>', 'run the same process against a Kafka cluster instead of the in-memory bus')
  .option('--json', 'print one machine-readable summary per input (JSON lines) on stdout; the rest goes to stderr')
  .option(
    '--grace <seconds>',
    'after Ctrl-C, how long the frames already read may take before the reports are written anyway',
    positiveNumber,
    10,
  )
  .action(
    async (
      args: string[],
      options: {
        pack: string;
        detectorPack?: string;
        modelsDir: string;
        out: string;
        fps: number;
        maxWidth: number;
        device: 'cpu' | 'cuda';
        features?: boolean;
        overwrite?: boolean;
        perTrackCsv?: boolean;
        video: boolean;
        serve?: number;
        serveHost: string;
        kafka?: string;
        grace: number;
        json?: boolean;
      },
    ) => {
      let inputs;
      try {
        inputs = expandInputs(args);
      } catch (error) {
        if (error instanceof InputError) throw new InvalidArgumentError(error.message);
        throw error;
      }
      // The stages' settings from the environment, as `emo serve` reads them (FACE_*, BACKBONE_*,
      // TEMPORAL_*): a bad value stops the run here, naming its variable.
      const stages = stageSettingsFromEnv();
      const detectorPack = options.detectorPack ?? stages.face.face.detectorPack;
      // The packs named must exist (default and synthetic are built on first use): a usage error otherwise.
      for (const pack of new Set([options.pack, detectorPack])) {
        if (pack === 'default' || pack === 'synthetic') continue;
        try {
          resolvePackDir(pack, options.modelsDir);
        } catch (error) {
          throw new InvalidArgumentError((error as Error).message);
        }
      }
      // The output folder is checked before any work: a read-only --out must not fail after the whole input ran.
      let outFolder: { created: boolean };
      try {
        outFolder = prepareOutFolder(options.out, { overwrite: Boolean(options.overwrite) });
      } catch (error) {
        if (error instanceof OutFolderError) throw new InvalidArgumentError(error.message);
        throw error;
      }
      // With --json, stdout carries only the JSON summaries; the human lines go to stderr.
      const say = options.json ? (line: string) => console.error(line) : (line: string) => console.log(line);
      const { stop, force } = stopOnCtrlC(options.grace);
      const serve =
        options.serve === undefined
          ? undefined
          : serveLiveView(inputs, { port: options.serve, host: options.serveHost, onReady: (url) => say(`live view: ${url}`) });
      const summaries = await runPipeline(inputs, {
        pack: options.pack,
        detectorPack,
        stages,
        modelsDir: options.modelsDir,
        outDir: options.out,
        liveFps: options.fps,
        maxWidth: options.maxWidth,
        device: options.device,
        features: Boolean(options.features),
        perTrackCsv: Boolean(options.perTrackCsv),
        video: options.video,
        log: say,
        signal: stop.signal,
        drainGraceMs: options.grace * 1000,
        force: force.signal,
        ...(serve ? { attach: serve, holdAfterEnd: true } : {}),
        ...(options.kafka ? { kafkaBrokers: options.kafka } : {}),
      }).catch((error: unknown) => {
        // The pack could not load (or worse): no report, and no folder left behind that this run made.
        if (outFolder.created) removeIfEmpty(options.out);
        throw error;
      });
      finishRun(summaries, { ...options, outFolder, say, stopped: stop.signal, forced: force.signal });
    },
  );

/**
 * Ctrl-C once: stop reading, finish what is in flight (within --grace) and write the reports.
 * Twice: write the reports of what is processed now. Three times: quit without them.
 */
function stopOnCtrlC(graceSeconds: number): { stop: AbortController; force: AbortController } {
  const stop = new AbortController();
  const force = new AbortController();
  process.on('SIGINT', () => {
    if (force.signal.aborted) process.exit(130);
    if (stop.signal.aborted) {
      console.error('\nwriting the reports of what is processed now (Ctrl-C again to quit without them)');
      force.abort();
      return;
    }
    console.error(
      `\nstopping: finishing the frames in flight (at most ${graceSeconds} s) and writing the reports (Ctrl-C again to write them at once)`,
    );
    stop.abort();
  });
  return { stop, force };
}

/** After the run: the JSON summaries (--json), where the reports went, and the exit code. */
function finishRun(
  summaries: InputSummary[],
  options: {
    json?: boolean;
    out: string;
    outFolder: { created: boolean };
    say: (line: string) => void;
    stopped: AbortSignal;
    forced: AbortSignal;
  },
): void {
  const { outFolder, say } = options;
  if (options.json) for (const summary of summaries) console.log(JSON.stringify(summary));
  const written = [...new Set(summaries.flatMap((s) => s.reports))];
  if (written.length > 0) {
    say(`reports written to ${options.out}/: ${listFiles([...written, path.join(options.out, RUN_MANIFEST)], options.out)}`);
  } else {
    say('no reports written: no input could be read');
    // Nothing to keep: a folder this run made goes again.
    if (outFolder.created) removeIfEmpty(options.out);
  }
  // Ctrl-C stopped an input before its end: its reports are partial (run.json says which), exit 130.
  const stopped = options.stopped.aborted && summaries.some((s) => s.state === 'stopped');
  // Cut short by a second Ctrl-C: the stages may still be finishing frames nobody waits for any more.
  if (options.forced.aborted) process.exit(130);
  if (stopped) process.exitCode = 130;
  // Otherwise non-zero only when nothing could be processed.
  else if (summaries.every((s) => s.sampledFrames === 0)) process.exitCode = 1;
}

program
  .command('models')
  .description('list, verify, build and import model packs (emo models help)')
  .helpOption(false)
  .allowUnknownOption()
  .argument('[args...]')
  .action(async (args: string[]) => {
    // Loaded here only: the build tooling costs every other command start-up time.
    const { runModelsCli } = await import('@emostream/models');
    process.exitCode = await runModelsCli(args);
  });

const streams = program.command('streams').description('manage the desired set of streams (the compacted streams topic)');

function busFromEnv() {
  const config = loadConfig(runtimeConfigSchema, runtimeEnvBindings);
  return { bus: createBus(config), prefix: config.topicPrefix };
}

streams
  .command('add')
  .description('add or change a stream: a file path, rtsp://, http(s):// or webcam:/dev/videoN')
  .argument('<streamId>')
  .argument('<url>')
  .option('--fps <n>', 'sampling rate for live sources (0 = ingest default)', positiveNumber, 0)
  .option('--max-width <px>', 'scale wider frames down (0 = ingest default)', positiveNumber, 0)
  .option('--disabled', 'declare it but do not run it')
  .action(async (streamId: string, url: string, options: { fps: number; maxWidth: number; disabled?: boolean }) => {
    try {
      assertStorableSpec(streamId, url);
    } catch (error) {
      throw new InvalidArgumentError((error as Error).message);
    }
    // A file path is stored absolute: ingest runs elsewhere, in another working directory.
    const source = isLocalPath(url) ? path.resolve(url) : url;
    // Ingest's source policy, with this environment's INGEST_* settings: a refusal writes nothing.
    const check = await checkSpec({ streamId, url: source, sampleFps: options.fps, maxWidth: options.maxWidth });
    if (check.verdict === 'refused') throw new InvalidArgumentError(`ingest would refuse this stream (${check.reason}): ${check.message}`);
    const { bus, prefix } = busFromEnv();
    await putStream(bus, prefix, { streamId, url: source, sampleFps: options.fps, maxWidth: options.maxWidth, enabled: !options.disabled });
    await bus.close();
    console.log(`stream ${streamId} → ${redactUrl(source)}${options.disabled ? ' (disabled)' : ''}`);
    if (check.verdict === 'unchecked') console.log(`not checked here, will be checked by ingest: ${check.unchecked.join('; ')}`);
  });

streams
  .command('remove')
  .description('remove a stream; the ingest replica running it stops within seconds')
  .argument('<streamId>')
  .action(async (streamId: string) => {
    const { bus, prefix } = busFromEnv();
    try {
      const known = (await listStreams(bus, prefix)).some((s) => s.streamId === streamId);
      if (!known) throw new InvalidArgumentError(`no stream "${streamId}" (emo streams list shows the streams there are)`);
      await putStream(bus, prefix, { streamId, url: '', sampleFps: 0, maxWidth: 0 }, true);
    } finally {
      await bus.close();
    }
    console.log(`stream ${streamId} removed`);
  });

streams
  .command('list')
  .description(
    'list the declared streams with what ingest says of each: starting, running, reconnecting, finished, failed or refused (and why)',
  )
  .option('--json', 'print a JSON array: each spec (URL without credentials) with its status')
  .action(async (options: { json?: boolean }) => {
    const { bus, prefix } = busFromEnv();
    const specs = await listStreams(bus, prefix);
    const statuses = await listStreamStatuses(bus, prefix);
    await bus.close();
    if (options.json) {
      console.log(printableJson(specs.map((s) => streamJson(s, statuses.get(s.streamId)))));
      return;
    }
    if (specs.length === 0) console.log('no streams');
    for (const s of specs) console.log(formatStreamLine(s, statuses.get(s.streamId)));
  });

/** A local file path rather than a URL or a webcam (`scheme:` prefixes). */
function isLocalPath(source: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(source);
}

/** The files written, by name (relative to the output folder); past 12, a count and where they all are listed. */
function listFiles(files: string[], outDir: string): string {
  const names = files.map((file) => path.relative(outDir, file));
  if (names.length <= 12) return names.join(', ');
  return `${names.slice(0, 12).join(', ')} and ${names.length - 12} more (all listed in ${RUN_MANIFEST})`;
}

program.parseAsync().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  // A usage error found by an action (bad inputs, an unknown stage or stream): its message, exit 2.
  if (error instanceof InvalidArgumentError) {
    console.error(`emo: ${message}`);
    process.exit(2);
  }
  // Commander printed its own message (or the help / version): exit 0 for those, 2 for a usage error.
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  // Bad config, input or model pack: a clear message, never a stack trace. Anything else is a bug:
  // its message too, and the stack in the log at debug level (EMOSTREAM_LOG_LEVEL=debug).
  console.error(`emo: ${message}`);
  if (!(error instanceof StageError)) {
    rootLogger.debug({ err: error }, 'emo failed');
    console.error('(an unexpected error: EMOSTREAM_LOG_LEVEL=debug shows where it happened)');
  }
  process.exit(1);
});
