/**
 * The live view in a real browser while a real clip runs through the real pipeline: the stages of
 * `emo run` (face, backbone, temporal, sink) in this process on the in-memory bus, ingest's
 * StreamRunner over a labelled clip, and `liveViewFeed` from the frames and events topics into a
 * LiveView — the same code path as `emo run --serve` and the sink service. Headless Chromium (Debian's,
 * via playwright-core) loads the page and must show a labelled box on the picture it was found in,
 * and a timeline with points. The screenshot is saved under test-artifacts/.
 *
 * Lives here, not in services/sink/test: it composes several services (a service never imports another).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  encodeMessage,
  EMOTION_LABELS,
  InMemoryBus,
  loadPack,
  openPackFaceDetector,
  readPack,
  resolvePackDir,
  runtimeConfigSchema,
  StageRunner,
  topicName,
  topics,
  type StageDefinition,
} from '@emostream/shared';
import { launchHeadlessChromium, testArtifactPath, waitFor } from '@emostream/shared/testing';
import { IngestMetrics, ingestSettingsSchema, StreamRunner } from '@emostream/ingest';
import { faceStage, faceTrackerConfigSchema, packCropSpec } from '@emostream/face';
import { backboneStage, packBackbone } from '@emostream/backbone';
import { packTemporal, temporalStage } from '@emostream/temporal';
import { LiveView, liveViewFeed, sinkStage } from '@emostream/sink';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const happy = path.resolve(root, '../shared/data/labelled/cremad_1001_DFA_happy.flv');
const modelsDir = path.join(root, 'models');
const LABELLED = new RegExp(`^(${EMOTION_LABELS.join('|')}): \\d{1,3}\\.\\d\\d%$`);

describe('live view, in headless Chromium, while a clip runs through the pipeline', () => {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('draws a labelled box on the picture it was found in and a per-track timeline, updated live over the WebSocket', { timeout: 180_000 }, async () => {
    assert.ok(existsSync(happy), `test media missing: ${happy}`);
    assert.ok(existsSync(path.join(modelsDir, 'default', 'manifest.json')), 'no default model pack: run `npm run models` (scripts/test.mjs does)');
    const browser = await launchHeadlessChromium();
    cleanup.push(() => browser.close());

    const prefix = 'live-view-test';
    const bus = new InMemoryBus();
    cleanup.push(() => bus.close());
    const config = runtimeConfigSchema.parse({ bus: 'memory', topicPrefix: prefix, maxBatchSize: 16 });
    const registry = new Registry();
    const packDir = resolvePackDir('default', modelsDir);
    const hasLstm = (await readPack(packDir)).manifest.models.temporal !== undefined;
    const pack = await loadPack(packDir, { roles: hasLstm ? ['backbone', 'temporal'] : ['backbone'] });
    cleanup.push(() => Promise.all(Object.values(pack.sessions).map((s) => s.release())));
    const stages = [
      faceStage({ detector: await openPackFaceDetector(packDir, {}), crops: await packCropSpec(packDir, 'rgb8', 90), tracker: faceTrackerConfigSchema.parse({ minHits: 1 }), minFaceSize: 12 }),
      backboneStage({ model: packBackbone(pack), maxBatch: 16, maxWaitMs: 0, maxFrameAgeMs: 0 }),
      temporalStage({ model: packTemporal(pack), windowLength: 10, trackTtlMs: 2_000 }),
      sinkStage(),
    ] as StageDefinition[];
    const runners = stages.map((definition) => new StageRunner(definition, { bus, config, registry }));
    for (const runner of runners) await runner.start();
    cleanup.push(async () => {
      for (const runner of runners) await runner.stop();
    });

    const view = new LiveView({ port: 0 });
    const { url } = await view.start();
    cleanup.push(() => view.close());
    const stopFeed = await liveViewFeed(bus, prefix, view);
    cleanup.push(stopFeed);

    const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => void (message.type() === 'error' && pageErrors.push(message.text())));
    // Nothing from outside: every request the page makes stays on the live view's server.
    const foreign: string[] = [];
    page.on('request', (request) => void (request.url().startsWith(url) || request.url().startsWith(url.replace('http', 'ws')) || foreign.push(request.url())));
    await page.goto(url, { timeout: 15_000 });
    await page.locator('#status.live').waitFor({ timeout: 15_000 });

    // The clip runs now, while the page is open.
    const producer = await bus.producer();
    const streamId = 'happy';
    const runner = new StreamRunner(
      { streamId, url: happy, sampleFps: 0, maxWidth: 0 },
      {
        publish: (frame) => producer.send([{ topic: topicName(topics.frames, prefix), key: streamId, value: encodeMessage(topics.frames, frame) }]),
        metrics: new IngestMetrics(registry),
        settings: ingestSettingsSchema.parse({}),
      },
    );
    const card = page.locator(`.card[data-stream-id="${streamId}"]`);
    const label = card.locator('.faces .face-label').first();
    await label.waitFor({ timeout: 120_000 });
    assert.match((await label.textContent()) ?? '', LABELLED);
    const outcome = await runner.done;
    assert.equal(outcome.state, 'ended');

    // The box is drawn on the picture it was found in: the canvas shows the frame of the listed faces.
    const drawn = await card.evaluate((node) => ({
      frameSeq: node.querySelector('canvas.frame')?.getAttribute('data-seq'),
      facesSeq: node.querySelector('.faces')?.getAttribute('data-seq'),
      facesOnPicture: Number(node.querySelector('canvas.frame')?.getAttribute('data-faces') ?? 0),
    }));
    assert.ok(drawn.facesOnPicture >= 1, `no face drawn on the picture: ${JSON.stringify(drawn)}`);
    assert.equal(drawn.frameSeq, drawn.facesSeq, 'the faces listed belong to the picture shown');
    // The box colour of the annotated video is on the canvas (the box was really drawn, not only listed).
    const boxPixels = await card.locator('canvas.frame').evaluate((canvas: any) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data as Uint8ClampedArray;
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i]! < 12 && Math.abs(data[i + 1]! - 230) < 14 && Math.abs(data[i + 2]! - 118) < 14) n++;
      return n;
    });
    assert.ok(boxPixels > 50, `expected the #00e676 box on the picture, found ${boxPixels} pixels of it`);

    // The timeline of the track has points, and the page got them over the WebSocket as the clip ran.
    await waitFor(async () => Number(await card.locator('.track-row canvas').first().getAttribute('data-points')) >= 5, { timeoutMs: 30_000, message: 'a timeline with at least 5 points' });
    const screenshot = testArtifactPath('live-view.png');
    await page.screenshot({ path: screenshot });
    console.log(`live view screenshot: ${screenshot}`);
    assert.deepEqual(pageErrors, [], 'the page logged errors');
    assert.deepEqual(foreign, [], 'the page requested something from elsewhere');
  });
});
