// emo run's clip-level answers and its reports for images (issue 10): the CLI summary, the track summary
// event and the README name and define each clip-level emotion, and agree with each other on the six
// CREMA-D clips; a folder of photos gives one table of faces and an annotated copy of each photo.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { EMOTION_LABELS, type EmotionEvent, type FaceEmotionEvent, type TrackSummaryEvent } from '@emostream/shared';
import { ffmpeg, sharedData, unshippedMediaMissing } from '@emostream/shared/testing';
import { decodeImage, readJsonLines, runEmo, strokePixels } from './media.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
const labels = EMOTION_LABELS.join('|');

function argmax(values: readonly number[]): number {
  return values.reduce((best, v, i) => (v > values[best]! ? i : best), 0);
}

/** The mode of the argmaxes; ties go to the earlier label, as the reference's scipy mode does. */
function modeOfArgmax(rows: readonly (readonly number[])[]): string {
  const votes = EMOTION_LABELS.map((_, label) => rows.filter((row) => argmax(row) === label).length);
  return EMOTION_LABELS[argmax(votes)]!;
}

describe('emo run clip-level answers', () => {
  it('prints, emits and documents the same named quantities on the CREMA-D clips', () => {
    // The README defines both answers; a change of either definition must change this test too.
    assert.match(
      readme,
      /\*\*video emotion\*\*[\s\S]{0,200}?mode of the per-window argmax[\s\S]{0,200}?without a temporal model[\s\S]{0,100}?per-sampled-frame argmax of the static probabilities/,
    );
    assert.match(
      readme,
      /\*\*mean emotion\*\*[\s\S]{0,200}?`meanEmotion`[\s\S]{0,100}?argmax of `meanProbabilities`[\s\S]{0,100}?mean of the probabilities of the track's face events/,
    );

    const clips = ['anger', 'disgust', 'fear', 'happy', 'neutral', 'sad'].map((label) =>
      sharedData(`labelled/cremad_1001_DFA_${label}.flv`),
    );
    const out = mkdtempSync(path.join(tmpdir(), 'emo-answers-'));
    const result = runEmo([...clips, '--features', '--out', out]);
    assert.equal(result.status, 0, result.stderr);
    for (const clip of clips) {
      const name = path.basename(clip, '.flv');
      const line = new RegExp(`${name}\\.flv: video emotion (${labels}), mean emotion (${labels}) — `).exec(result.stdout);
      assert.ok(line, `${name}: the summary names both answers:\n${result.stdout}`);
      const [, printedVideo, printedMean] = line;

      // Video emotion, by the README's definition for a pack without a temporal model (the default pack):
      // the mode of the per-sampled-frame argmax of the static probabilities the backbone gave.
      const features = readJsonLines<{ trackId: number; staticProbs: number[] }>(
        readFileSync(path.join(out, `${name}.features.jsonl`), 'utf8'),
      );
      assert.ok(
        features.length >= 10 && features.every((f) => f.trackId === features[0]!.trackId),
        `${name}: one track, every sampled frame`,
      );
      assert.equal(printedVideo, modeOfArgmax(features.map((f) => f.staticProbs)), `${name}: the printed video emotion is the reference's`);

      // Mean emotion: the track summary event's, recomputed from the track's face events.
      const events = readJsonLines<EmotionEvent>(readFileSync(path.join(out, `${name}.events.jsonl`), 'utf8'));
      const faces = events.filter((e): e is FaceEmotionEvent => e.schema === 'emostream.event.face.v2');
      const [summary, ...more] = events.filter((e): e is TrackSummaryEvent => e.schema === 'emostream.event.track_summary.v2');
      assert.ok(summary && more.length === 0, `${name}: one track summary`);
      const means = EMOTION_LABELS.map((label) => faces.reduce((sum, f) => sum + f.probabilities[label], 0) / faces.length);
      EMOTION_LABELS.forEach((label, i) =>
        assert.ok(Math.abs(summary.meanProbabilities[label] - means[i]!) < 1e-6, `${name}: mean ${label}`),
      );
      assert.equal(summary.meanEmotion, EMOTION_LABELS[argmax(means)], `${name}: meanEmotion is the argmax of the mean probabilities`);
      assert.equal(printedMean, summary.meanEmotion, `${name}: the printed mean emotion is the track summary's`);
    }
  });
});

describe('emo run on a folder of photos', () => {
  it(
    'writes one row per face per photo in one CSV and an annotated copy of each photo',
    { skip: unshippedMediaMissing('stills/faceapi_sad.jpg', 'stills/friends_6faces_insightface_t1.jpg') },
    async () => {
      const folder = path.join(mkdtempSync(path.join(tmpdir(), 'emo-photos-')), 'photos');
      mkdirSync(folder);
      symlinkSync(sharedData('stills/faceapi_sad.jpg'), path.join(folder, 'sad.jpg'));
      symlinkSync(sharedData('stills/friends_6faces_insightface_t1.jpg'), path.join(folder, 'friends.jpg'));
      // A photo without a face: it gets an (unmarked) copy and no row.
      ffmpeg(['-f', 'lavfi', '-i', 'color=c=0x708090:s=320x240:d=1', '-frames:v', '1', path.join(folder, 'wall.png')]);
      const out = mkdtempSync(path.join(tmpdir(), 'emo-photos-out-'));
      const result = runEmo([folder, '--out', out]);
      assert.equal(result.status, 0, result.stderr);

      const [header, ...rows] = readFileSync(path.join(out, 'photos.faces.csv'), 'utf8').trim().split('\n');
      assert.equal(header, `file,track,x,y,width,height,${EMOTION_LABELS.join(',')}`);
      const byFile = new Map<string, number[][]>();
      for (const row of rows) {
        const [file, ...values] = row.split(',');
        byFile.set(path.basename(file!), [...(byFile.get(path.basename(file!)) ?? []), values.map(Number)]);
      }
      assert.deepEqual([...byFile.keys()].sort(), ['friends.jpg', 'sad.jpg']);
      assert.equal(byFile.get('sad.jpg')!.length, 1);
      assert.equal(byFile.get('friends.jpg')!.length, 6, 'the six faces of the group photo');
      const sizes = { 'sad.jpg': [400, 300], 'friends.jpg': [1280, 886] } as Record<string, [number, number]>;
      for (const [file, faces] of byFile) {
        for (const [, x, y, w, h, ...probs] of faces) {
          const [width, height] = sizes[file]!;
          assert.ok(
            x! >= -1 && y! >= -1 && w! > 20 && h! > 20 && x! + w! <= width + 1 && y! + h! <= height + 1,
            `${file}: box ${[x, y, w, h].join()} lies in the ${width}×${height} photo`,
          );
          assert.equal(probs.length, 7);
          assert.ok(Math.abs(probs.reduce((s, p) => s + p, 0) - 1) < 1e-3);
        }
      }
      for (const name of ['sad', 'friends', 'wall']) {
        const copy = path.join(out, `${name}.annotated.jpg`);
        const original = await sharp(path.join(folder, name === 'wall' ? 'wall.png' : `${name}.jpg`)).metadata();
        const annotated = await decodeImage(copy);
        assert.deepEqual(
          [annotated.width, annotated.height],
          [original.width, original.height],
          `${name}: the copy keeps the photo's size`,
        );
        assert.equal(strokePixels(annotated) > 100, name !== 'wall', `${name}: boxes drawn on the faces, none on the wall`);
        assert.ok(
          !existsSync(path.join(out, `${name}.annotated.mp4`)) && !existsSync(path.join(out, `${name}.csv`)),
          `${name}: no video report for a photo`,
        );
      }
      assert.match(result.stdout, /faces of the images: .*photos\.faces\.csv/);
    },
  );
});
