import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PerTrack } from '../src/index.js';

it('PerTrack keeps state per (stream, track), lists tracks by id, and forgets a stream with its last track', () => {
  const state = new PerTrack<string>();
  state.set('lobby', 2, 'b');
  state.set('lobby', 1, 'a');
  state.set('yard', 1, 'y');
  assert.equal(state.get('lobby', 1), 'a');
  assert.equal(state.get('lobby', 3), undefined);
  assert.deepEqual(state.tracksOf('lobby'), [
    [1, 'a'],
    [2, 'b'],
  ]);
  assert.equal(state.size, 3);
  assert.equal(state.delete('yard', 1), 'y');
  assert.deepEqual(state.streamIds(), ['lobby'], 'a stream without tracks is forgotten');
  assert.equal(state.delete('yard', 1), undefined);
  assert.deepEqual(state.deleteStream('lobby'), [
    [1, 'a'],
    [2, 'b'],
  ]);
  assert.equal(state.size, 0);
  assert.deepEqual(state.deleteStream('lobby'), []);
});
