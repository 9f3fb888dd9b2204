import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { expandInputs, InputError } from '../src/inputs.js';

describe('emo run inputs on the command line', () => {
  it('takes every video directly in a folder, sorted, and names each input after it', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'emo-inputs-'));
    for (const file of ['b.mp4', 'a.FLV', 'notes.txt', 'c.gif']) writeFileSync(path.join(folder, file), '');
    assert.deepEqual(
      expandInputs([folder]).map((i) => [path.basename(i.input), i.name, i.kind, i.live]),
      [
        ['a.FLV', 'a', 'file', false],
        ['b.mp4', 'b', 'file', false],
        ['c.gif', 'c', 'file', false],
      ],
    );
  });

  it('takes the images of a folder too, marked as images that share one table of faces named after the folder', () => {
    const folder = path.join(mkdtempSync(path.join(tmpdir(), 'emo-inputs-')), 'party');
    mkdirSync(folder);
    for (const file of ['b.JPG', 'a.png', 'clip.mp4', 'notes.txt']) writeFileSync(path.join(folder, file), '');
    assert.deepEqual(
      expandInputs([folder, path.join(folder, 'b.JPG')]).map((i) => [path.basename(i.input), i.name, i.image ?? false, i.group]),
      [
        ['a.png', 'a', true, 'party'],
        ['b.JPG', 'b-2', true, 'party'],
        ['clip.mp4', 'clip', false, undefined],
        ['b.JPG', 'b-4', true, 'b-4'],
      ],
    );
  });

  it('keeps URLs and webcams live, and gives inputs that share a name their position', () => {
    assert.deepEqual(
      expandInputs(['rtsp://cam.local:554/streams/lobby.sdp', 'http://10.0.0.5/clip.mp4', 'webcam:/dev/video2', 'x/a.mp4', 'y/a.mp4']).map(
        (i) => [i.name, i.kind, i.live],
      ),
      [
        ['cam.local-554-lobby', 'rtsp', true],
        ['10.0.0.5-clip', 'http', true],
        ['webcam-video2', 'webcam', true],
        ['a-4', 'file', false],
        ['a-5', 'file', false],
      ],
    );
  });

  it('names the problem of a folder without videos or images and of an empty file, and fails for an unsupported URL', () => {
    const folder = mkdtempSync(path.join(tmpdir(), 'emo-empty-'));
    const [empty] = expandInputs([folder]);
    assert.match(empty!.problem ?? '', /^no video or image files in folder/);
    writeFileSync(path.join(folder, 'nothing.mp4'), '');
    const [zero] = expandInputs([path.join(folder, 'nothing.mp4')]);
    assert.equal(zero!.problem, 'empty file (0 bytes)');
    assert.throws(
      () => expandInputs(['ftp://host/clip.mp4']),
      (e) => e instanceof InputError && /unsupported stream URL scheme/.test(e.message),
    );
  });
});
