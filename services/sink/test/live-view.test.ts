import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EMOTION_LABELS, toProbabilities, type EmotionLabel, type FaceEmotionEvent } from '@emostream/shared';
import {
  freePort,
  launchHeadlessChromium,
  loopedH264Clip,
  sharedData,
  startRtspServer,
  testArtifactPath,
  waitFor,
} from '@emostream/shared/testing';
import { LiveView, StreamViews } from '../src/index.js';

/** The slice of the page's canvas API these checks read (evaluated in the browser; this package's tsconfig has no DOM lib). */
interface PageCanvas {
  width: number;
  height: number;
  getAttribute(name: string): string | null;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray } };
}

const jpeg = (n: number) => Uint8Array.from([0xff, 0xd8, n, 0xff, 0xd9]);
const frame = (seq: number) => ({ seq, ptsMs: seq * 40, width: 640, height: 480, jpeg: jpeg(seq) });

function face(streamId: string, seq: number, trackId = 1, label: EmotionLabel = 'Happiness'): FaceEmotionEvent {
  const probs = EMOTION_LABELS.map((l) => (l === label ? 0.7 : 0.05));
  return {
    schema: 'emostream.event.face.v2',
    streamId,
    seq,
    ptsMs: seq * 40,
    capturedAtMs: 0,
    emittedAtMs: 0,
    trackId,
    box: { x: 100, y: 80, width: 120, height: 150 },
    frame: { width: 640, height: 480 },
    detectorScore: 0.9,
    label,
    confidence: 0.7,
    probabilities: toProbabilities(probs),
  };
}

describe('StreamViews: which picture the live view shows', () => {
  it('shows a frame with its faces when their events arrive, later than the frame', () => {
    let now = 0;
    const views = new StreamViews({ now: () => now });
    for (let seq = 1; seq <= 5; seq++) views.frame('cam', frame(seq));
    now = 300;
    const shown = views.faces('cam', 3, [face('cam', 3)]);
    assert.equal(shown?.seq, 3);
    assert.deepEqual(shown?.jpeg, jpeg(3), 'the boxes go on the picture they were found in');
    assert.equal(shown?.faces[0]?.label, 'Happiness');
    assert.deepEqual(
      views.tracks('cam')[0]?.points.map((p) => p.seq),
      [3],
    );
  });

  it('never shows boxes of an older frame once a newer picture is shown, but keeps them in the timeline', () => {
    let now = 0;
    const views = new StreamViews({ now: () => now, initialWaitMs: 100 });
    views.frame('cam', frame(1));
    views.frame('cam', frame(2));
    now = 150;
    assert.deepEqual(
      views.due().map((s) => [s.seq, s.faces.length]),
      [[2, 0]],
      'the newest waiting frame, plain',
    );
    assert.equal(views.faces('cam', 1, [face('cam', 1)]), undefined, 'frame 1 is older than the picture shown');
    assert.equal(views.tracks('cam')[0]?.points.length, 1);
    // The same seq as the picture shown: the boxes arrived late, the picture is redrawn with them.
    assert.equal(views.faces('cam', 2, [face('cam', 2)])?.faces.length, 1);
  });

  it('waits for events about as long as the stream has recently needed, then shows plain frames', () => {
    let now = 0;
    const views = new StreamViews({ now: () => now, initialWaitMs: 100 });
    views.frame('cam', frame(1));
    now = 800; // events take 800 ms on this stream
    assert.equal(views.faces('cam', 1, [face('cam', 1)])?.seq, 1);
    views.frame('cam', frame(2));
    now += 500;
    assert.deepEqual(views.due(), [], 'frame 2 may still get faces: the stream needs ~800 ms');
    now += 1_000;
    assert.deepEqual(
      views.due().map((s) => s.seq),
      [2],
    );
  });

  it('merges faces of one frame that arrive in two groups', () => {
    const views = new StreamViews({ now: () => 0 });
    views.frame('cam', frame(7));
    views.faces('cam', 7, [face('cam', 7, 1)]);
    const shown = views.faces('cam', 7, [face('cam', 7, 2, 'Anger')]);
    assert.deepEqual(shown?.faces.map((f) => f.trackId).sort(), [1, 2]);
  });

  it('stays bounded: frames per stream, points per track, and quiet tracks and streams expire', () => {
    let now = 0;
    const views = new StreamViews({ now: () => now, ringFrames: 4, pointsPerTrack: 3, trackTtlMs: 1_000, streamTtlMs: 5_000 });
    for (let seq = 1; seq <= 10; seq++) views.frame('cam', frame(seq));
    assert.equal(views.faces('cam', 5, [face('cam', 5)]), undefined, 'frame 5 left the ring of 4');
    for (let seq = 6; seq <= 10; seq++) views.faces('cam', seq, [face('cam', seq)]);
    assert.deepEqual(
      views.tracks('cam')[0]?.points.map((p) => p.seq),
      [8, 9, 10],
    );
    now = 2_000;
    assert.deepEqual(views.expire(), { streams: [], tracks: [{ streamId: 'cam', trackId: 1 }] });
    now = 10_000;
    assert.deepEqual(views.expire().streams, ['cam']);
    assert.deepEqual(views.streamIds(), []);
  });

  it('starts over when a stream restarts from frame 1', () => {
    const views = new StreamViews({ now: () => 0 });
    for (let seq = 1; seq <= 3; seq++) views.frame('cam', frame(seq));
    views.faces('cam', 3, [face('cam', 3)]);
    views.frame('cam', frame(1));
    assert.equal(views.faces('cam', 1, [face('cam', 1)])?.seq, 1);
  });
});

describe('LiveView server', () => {
  it('serves the page and its player from itself, on loopback, and 404s anything else', async () => {
    const view = new LiveView({ port: 0, host: '127.0.0.1' });
    const { url } = await view.start();
    try {
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const html = await (await fetch(url)).text();
      assert.match(html, /<script src="\/vendor\/jsmpeg\.min\.js">/);
      assert.doesNotMatch(html, /https?:\/\//, 'nothing from elsewhere (the page must work offline)');
      for (const asset of ['live-view.js', 'vendor/jsmpeg.min.js']) {
        const res = await fetch(new URL(asset, url));
        assert.equal(res.status, 200, asset);
        assert.match(res.headers.get('content-type') ?? '', /javascript/);
      }
      assert.match(await (await fetch(new URL('vendor/jsmpeg.min.js', url))).text(), /JSMpeg/);
      assert.equal((await fetch(new URL('../package.json', url))).status, 404);
    } finally {
      await view.close();
    }
  });
});

const happy = sharedData('labelled/cremad_1001_DFA_happy.flv');

describe('LiveView RTSP relay, in headless Chromium', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it(
    'relays a real RTSP camera through ffmpeg (and the RTSP guard) to the page, whose JSMpeg player draws it, with boxes over it',
    { timeout: 90_000 },
    async () => {
      const clip = path.join(mkdtempSync(path.join(tmpdir(), 'live-view-rtsp-')), 'live.mp4');
      loopedH264Clip(happy, clip, 6);
      const port = await freePort();
      const server = await startRtspServer(port, clip);
      cleanup.push(() => server.kill('SIGKILL'));

      const browser = await launchHeadlessChromium();
      cleanup.push(() => browser.close());
      const view = new LiveView({ port: 0, host: '127.0.0.1' });
      const { url } = await view.start();
      let closed = false;
      cleanup.push(() => closed || view.close());
      const rtspUrl = `rtsp://127.0.0.1:${port}/live`;
      view.addRtspSource('door-cam', rtspUrl);

      const page = await browser.newPage({ viewport: { width: 800, height: 600 } });
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(url, { timeout: 15_000 });
      const video = page.locator('.card[data-stream-id="door-cam"] canvas.video');
      await waitFor(async () => Number((await video.getAttribute('data-frames', { timeout: 1_000 }).catch(() => null)) ?? 0) >= 10, {
        timeoutMs: 45_000,
        message: () => `the JSMpeg player to decode 10 frames (relayed ${view.relayedBytes('door-cam')} bytes so far)`,
      });
      assert.ok(view.relayedBytes('door-cam') > 10_000, 'ffmpeg relayed the stream');
      // The picture is really there: the clip (a face on a green screen) is far from black.
      const bright = await video.evaluate((canvas: PageCanvas) => {
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let sum = 0;
        for (let i = 0; i < data.length; i += 4) sum += data[i]! + data[i + 1]! + data[i + 2]!;
        return { size: [canvas.width, canvas.height], mean: sum / (data.length / 4) / 3 };
      });
      assert.deepEqual(bright.size, [480, 360]);
      assert.ok(bright.mean > 40, `the relayed picture is black (mean ${bright.mean})`);

      // Face events of this stream are drawn over the live video while fresh.
      view.event(face('door-cam', 1));
      await page.locator('.card[data-stream-id="door-cam"] .faces .face-label').waitFor({ timeout: 5_000 });
      assert.equal(await page.locator('.card[data-stream-id="door-cam"] .faces .face-label').textContent(), 'Happiness: 70.00%');
      const screenshot = testArtifactPath('live-view-rtsp.png');
      await page.screenshot({ path: screenshot });
      console.log(`live view RTSP screenshot: ${screenshot}`);
      assert.deepEqual(pageErrors, []);

      const relayPid = view.relayPid('door-cam');
      assert.ok(relayPid !== undefined && spawnSync('kill', ['-0', String(relayPid)]).status === 0, 'the relay ffmpeg runs');
      await view.close();
      closed = true;
      await waitFor(() => spawnSync('kill', ['-0', String(relayPid)]).status !== 0, {
        timeoutMs: 5_000,
        message: 'the relay ffmpeg to stop on close',
      });
    },
  );
});
