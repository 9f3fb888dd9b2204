/**
 * `emo run --serve` in a real browser while a real clip runs: the CLI runs the whole pipeline in one
 * process on a clip (the labelled CREMA-D clip looped, about half a minute of work) and serves the live
 * view; headless Chromium (Debian's, via playwright-core) loads the page and must show a labelled box
 * on the picture it was found in and a timeline with points. The screenshot is saved under
 * test-artifacts/. Ctrl-C then ends the run, which still writes its reports.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { EMOTION_LABELS } from '@emostream/shared';
import { launchHeadlessChromium, loopedH264Clip, sharedData, testArtifactPath, waitFor } from '@emostream/shared/testing';
import { startEmoRun } from './emo-process.js';

/** The slice of the page's canvas API these checks read (evaluated in the browser; this package's tsconfig has no DOM lib). */
interface PageCanvas {
  width: number;
  height: number;
  getAttribute(name: string): string | null;
  getContext(kind: '2d'): { getImageData(x: number, y: number, width: number, height: number): { data: Uint8ClampedArray } };
}
/** The card element, as far as these checks read it. */
interface PageNode {
  querySelector(selector: string): PageCanvas | null;
}

const LABELLED = new RegExp(`^(${EMOTION_LABELS.join('|')}): \\d{1,3}\\.\\d\\d%$`);

describe('emo run --serve: the live view in headless Chromium while a clip runs', () => {
  const cleanup: (() => unknown)[] = [];
  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it(
    'draws a labelled box on the picture it was found in and a per-track timeline, updated live over the WebSocket',
    { timeout: 240_000 },
    async () => {
      const browser = await launchHeadlessChromium();
      cleanup.push(() => browser.close());
      const work = mkdtempSync(path.join(tmpdir(), 'emo-serve-'));
      const clip = path.join(work, 'happy.mp4');
      loopedH264Clip(sharedData('labelled/cremad_1001_DFA_happy.flv'), clip, 5);

      const out = path.join(work, 'out');
      const run = startEmoRun([clip, '--serve', '0', '--out', out]);
      cleanup.push(() => run.child.kill('SIGKILL'));
      await waitFor(() => /live view: http:\/\/127\.0\.0\.1:\d+/.test(run.stdout()), {
        timeoutMs: 60_000,
        message: () => `the live view address; emo run said: ${run.stdout()}${run.stderr()}`,
      });
      const url = run.stdout().match(/live view: (http:\/\/127\.0\.0\.1:\d+\/?)/)![1]!;

      const page = await browser.newPage({ viewport: { width: 1000, height: 760 } });
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      page.on('console', (message) => void (message.type() === 'error' && pageErrors.push(message.text())));
      // Nothing from outside: every request the page makes stays on the live view's server.
      const foreign: string[] = [];
      page.on(
        'request',
        (request) =>
          void (request.url().startsWith(url) || request.url().startsWith(url.replace('http', 'ws')) || foreign.push(request.url())),
      );
      await page.goto(url, { timeout: 15_000 });
      await page.locator('#status.live').waitFor({ timeout: 15_000 });

      // The clip runs now, while the page is open.
      const streamId = 'happy';
      const card = page.locator(`.card[data-stream-id="${streamId}"]`);
      const label = card.locator('.faces .face-label').first();
      await label.waitFor({ timeout: 120_000 });
      assert.match((await label.textContent()) ?? '', LABELLED);
      assert.doesNotMatch(run.stdout(), /happy\.mp4: /, 'the clip was still running when the box appeared');

      // The timeline of the track has points, and the page got them over the WebSocket as the clip ran.
      await waitFor(async () => Number(await card.locator('.track-row canvas').first().getAttribute('data-points')) >= 5, {
        timeoutMs: 30_000,
        message: 'a timeline with at least 5 points',
      });

      // The box is drawn on the picture it was found in: the canvas shows the frame of the listed faces,
      // in the annotated video's box colour (really drawn, not only listed). Read in one go, as the
      // picture keeps changing while the clip runs.
      const readPicture = () =>
        card.evaluate((node: PageNode) => {
          const canvas = node.querySelector('canvas.frame')!;
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let boxPixels = 0;
          for (let i = 0; i < data.length; i += 4)
            if (data[i]! < 12 && Math.abs(data[i + 1]! - 230) < 14 && Math.abs(data[i + 2]! - 118) < 14) boxPixels++;
          return {
            frameSeq: canvas.getAttribute('data-seq'),
            facesSeq: node.querySelector('.faces')?.getAttribute('data-seq'),
            facesOnPicture: Number(canvas.getAttribute('data-faces') ?? 0),
            boxPixels,
          };
        });
      let drawn = await readPicture();
      await waitFor(async () => (drawn = await readPicture()).facesOnPicture >= 1, {
        timeoutMs: 30_000,
        message: () => `a picture with its faces: ${JSON.stringify(drawn)}`,
      });
      const screenshot = testArtifactPath('live-view.png');
      await page.screenshot({ path: screenshot });
      console.log(`live view screenshot: ${screenshot}`);
      assert.equal(drawn.frameSeq, drawn.facesSeq, 'the faces listed belong to the picture shown');
      assert.ok(drawn.boxPixels > 50, `expected the #00e676 box on the picture, found ${drawn.boxPixels} pixels of it`);
      assert.deepEqual(pageErrors, [], 'the page logged errors');
      assert.deepEqual(foreign, [], 'the page requested something from elsewhere');

      // The clip ends, the view stays up until Ctrl-C, and the run writes its reports.
      await waitFor(() => run.stdout().includes('the live view stays up until Ctrl-C'), {
        timeoutMs: 180_000,
        message: () => `the end of the clip; emo run said: ${run.stdout()}${run.stderr()}`,
      });
      assert.match(
        run.stdout(),
        new RegExp(
          `happy\\.mp4: video emotion (${EMOTION_LABELS.join('|')}), mean emotion (${EMOTION_LABELS.join('|')}) — \\d+ faces, 1 track\\(s\\), 47 sampled of \\d+ frames`,
        ),
      );
      run.child.kill('SIGINT');
      assert.equal(await run.exited, 0, run.stdout() + run.stderr());
      assert.ok(existsSync(path.join(out, 'happy.csv')));
    },
  );
});
