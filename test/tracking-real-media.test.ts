/**
 * The tracker on real footage, through the face stage as the pipeline runs it (ingest's sampling,
 * the default pack's detectors): the Intel scenes give at most one track per person plus one, and a
 * hard cut between two real clips ends every track, with no id ever handed out again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ffmpeg, h264Output, sharedData, videoInfo } from '@emostream/shared/testing';
import { cachedStageDetector, sampleFile, trackSampledFile, type TrackedFrame } from '@emostream/fixtures/track-file';

type Detector = Awaited<ReturnType<typeof cachedStageDetector>>;

/** Track ids in order of first appearance. */
function trackIds(frames: readonly TrackedFrame[]): string[] {
  return [...new Set(frames.flatMap((f) => f.faces.map((face) => face.id)))];
}

/** Fails when an id shows up again after the frame that ended it. */
function assertNoIdReused(frames: readonly TrackedFrame[], label: string): void {
  const ended = new Map<string, number>();
  for (const frame of frames) {
    for (const face of frame.faces) {
      assert.ok(!ended.has(face.id), `${label}: track ${face.id} ended at frame ${ended.get(face.id)} and came back at frame ${frame.seq}`);
    }
    for (const id of frame.endedTrackIds) ended.set(String(id), frame.seq);
  }
}

describe('tracking real footage at the pipeline’s sampling', () => {
  let detector: Detector;
  let workDir: string;
  before(async () => {
    detector = await cachedStageDetector();
    workDir = mkdtempSync(path.join(tmpdir(), 'emostream-tracking-test-'));
  });
  after(() => rmSync(workDir, { recursive: true, force: true }));

  const scenes = [
    { file: 'intel_corridor_3people_walk_and_pause.gif', people: 3 },
    { file: 'intel_headpose_2people_female_male.gif', people: 2 },
    { file: 'intel_corridor_2people_walking_smallfaces.gif', people: 2 },
    { file: 'intel_classroom_4people_tinyfaces.gif', people: 4 },
  ];
  for (const { file, people } of scenes) {
    it(`gives at most ${people + 1} tracks on ${file} (${people} people)`, async () => {
      const tracked = await trackSampledFile(await sampleFile(sharedData(`scenes/${file}`), file), detector, {}, detector.identity);
      const ids = trackIds(tracked);
      assert.ok(ids.length >= 1, `${file}: no face tracked at all`);
      assert.ok(
        ids.length <= people + 1,
        `${file}: ${ids.length} track ids for ${people} people; ids per sampled frame: ${tracked.map((f) => `${f.seq}:[${f.faces.map((x) => x.id).join()}]`).join(' ')}`,
      );
      assertNoIdReused(tracked, file);
    });
  }

  it('ends every track at a hard cut between two real clips and never hands an ended id out again', async () => {
    // A CREMA-D close-up (one face), then a hard cut to the Intel head-pose scene (two people), both
    // scaled and padded to 480×360 and re-timed to 25 fps, as one H.264 file.
    const clip = path.join(workDir, 'cut.mp4');
    const fit = 'scale=480:360:force_original_aspect_ratio=decrease,pad=480:360:(ow-iw)/2:(oh-ih)/2,fps=25,format=yuv420p,setsar=1';
    ffmpeg([
      '-i',
      sharedData('labelled/cremad_1001_DFA_happy.flv'),
      '-i',
      sharedData('scenes/intel_headpose_2people_female_male.gif'),
      '-filter_complex',
      `[0:v]${fit}[a];[1:v]${fit}[b];[a][b]concat=n=2:v=1:a=0[out]`,
      '-map',
      '[out]',
      ...h264Output(),
      clip,
    ]);
    // The first clip's frames, re-timed from 29.97 to 25 fps: the cut comes right after them.
    const firstClipFrames = Math.round((videoInfo(sharedData('labelled/cremad_1001_DFA_happy.flv')).frames * 25) / (30000 / 1001));

    const tracked = await trackSampledFile(await sampleFile(clip, 'cut'), detector, {}, detector.identity);
    const beforeCut = tracked.filter((f) => f.seq <= firstClipFrames - 2);
    const afterCut = tracked.filter((f) => f.seq > firstClipFrames + 2);
    const firstAfterCut = tracked.find((f) => f.seq > firstClipFrames)!;
    const idsBefore = trackIds(beforeCut);
    const idsAfter = trackIds(afterCut);
    assert.deepEqual(idsBefore, ['1'], `one face, one track before the cut; got ${idsBefore.join()}`);
    assert.deepEqual(
      firstAfterCut.endedTrackIds.map(String),
      idsBefore,
      `the first sampled frame after the cut (frame ${firstAfterCut.seq}) ends the tracks of the first shot; it ended [${firstAfterCut.endedTrackIds.join()}]`,
    );
    assert.ok(idsAfter.length >= 1 && idsAfter.length <= 3, `two people after the cut: ${idsAfter.length} track ids (${idsAfter.join()})`);
    for (const id of idsAfter) assert.ok(!idsBefore.includes(id), `track ${id} crossed the cut`);
    // No cut is seen where there is none: the first shot keeps its one track to the cut.
    assert.deepEqual(
      tracked.filter((f) => f.seq < firstAfterCut.seq).flatMap((f) => f.endedTrackIds),
      [],
      'no track ends before the cut',
    );
    assertNoIdReused(tracked, 'cut.mp4');
  });
});
