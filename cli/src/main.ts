import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, createBus, loadConfig, rootLogger, runtimeConfigSchema, runtimeEnvBindings } from '@emostream/shared';
import { putStream } from '@emostream/ingest';
import { listStreams } from './streams.js';

const program = new Command('emo').description('EmoStream: real-time facial emotion recognition on Kafka').showHelpAfterError();

const positiveNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError('expected a number ≥ 0');
  return n;
};

program
  .command('serve')
  .description('run one pipeline stage as a service (configured by environment, see README)')
  .argument('<stage>', 'ingest, backbone, temporal or sink')
  .action(async (stage: string) => {
    // Each service's main wires its stage and runs until SIGTERM.
    const mains: Record<string, () => Promise<unknown>> = {
      ingest: () => import('../../services/ingest/src/main.js'),
      backbone: () => import('../../services/backbone/src/main.js'),
      temporal: () => import('../../services/temporal/src/main.js'),
      sink: () => import('../../services/sink/src/main.js'),
    };
    const main = mains[stage];
    if (!main) throw new InvalidArgumentError(`unknown stage "${stage}"; available: ${Object.keys(mains).join(', ')}`);
    await main();
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
    const { bus, prefix } = busFromEnv();
    await putStream(bus, prefix, { streamId, url, sampleFps: options.fps, maxWidth: options.maxWidth, enabled: !options.disabled });
    await bus.close();
    console.log(`stream ${streamId} → ${url}${options.disabled ? ' (disabled)' : ''}`);
  });

streams
  .command('remove')
  .description('remove a stream; the ingest replica running it stops within seconds')
  .argument('<streamId>')
  .action(async (streamId: string) => {
    const { bus, prefix } = busFromEnv();
    await putStream(bus, prefix, { streamId, url: '', sampleFps: 0, maxWidth: 0 }, true);
    await bus.close();
    console.log(`stream ${streamId} removed`);
  });

streams
  .command('list')
  .description('list the declared streams')
  .action(async () => {
    const { bus, prefix } = busFromEnv();
    const specs = await listStreams(bus, prefix);
    await bus.close();
    if (specs.length === 0) console.log('no streams');
    for (const s of specs) console.log(`${s.streamId}\t${s.enabled ? 'enabled' : 'disabled'}\t${s.url}${s.sampleFps ? `\t${s.sampleFps} fps` : ''}`);
  });

program.parseAsync().catch((error: unknown) => {
  // Bad config or input: a clear message, never a stack trace.
  if (error instanceof ConfigError || error instanceof InvalidArgumentError) console.error(`emo: ${error.message}`);
  else rootLogger.error({ err: error }, error instanceof Error ? error.message : String(error));
  process.exit(1);
});
