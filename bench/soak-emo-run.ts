/**
 * The `emo run` half of the soak benchmark (started by bench/soak.bench.ts, not by hand): the
 * pipeline `emo run <inputs>` runs — `runPipeline`, with the CLI's defaults and its Ctrl-C handling
 * — plus one observer on its in-memory bus that prints, per face event, one JSON line
 * `{"soakEvent":{"capturedAtMs","emittedAtMs","receivedAtMs"}}` on stdout, so the parent can
 * measure the event lag of a process that writes its reports only at the end.
 *
 * Usage: node --import tsx bench/soak-emo-run.ts --out <dir> --fps <n> <input…>
 */
import { parseArgs } from 'node:util';
import { eventsTopic, followTopic, topicName, type EmotionEvent } from '@emostream/shared';
import { DEFAULT_MODELS_DIR } from '@emostream/vision';
import { expandInputs, runPipeline } from '@emostream/cli';

const { values, positionals } = parseArgs({
  options: { out: { type: 'string' }, fps: { type: 'string' } },
  allowPositionals: true,
});
if (!values.out || !values.fps || positionals.length === 0) throw new Error('usage: soak-emo-run.ts --out <dir> --fps <n> <input…>');

const stop = new AbortController();
process.on('SIGINT', () => stop.abort());

const summaries = await runPipeline(expandInputs(positionals), {
  pack: 'default',
  detectorPack: 'default',
  modelsDir: DEFAULT_MODELS_DIR,
  outDir: values.out,
  liveFps: Number(values.fps),
  progress: false,
  signal: stop.signal,
  log: (line) => console.error(line),
  attach: async (bus, prefix) => {
    const reader = await followTopic(
      bus,
      { groupId: `${prefix}.soak-observer`, topic: topicName(eventsTopic, prefix), fromBeginning: true },
      (r) => {
        const event = JSON.parse(Buffer.from(r.value!).toString('utf8')) as EmotionEvent;
        if (event.schema !== 'emostream.event.face.v2') return;
        const soakEvent = { capturedAtMs: event.capturedAtMs, emittedAtMs: event.emittedAtMs, receivedAtMs: Date.now() };
        process.stdout.write(`${JSON.stringify({ soakEvent })}\n`);
      },
    );
    return () => reader.close();
  },
});
process.stdout.write(`${JSON.stringify({ soakSummaries: summaries })}\n`);
