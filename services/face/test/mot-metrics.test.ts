import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { motMetrics, type EvaluatedFrame, type LabelledBox } from '../src/index.js';

const at = (id: string, x: number): LabelledBox => ({ id, box: { x, y: 0, width: 10, height: 10 } });
/** Frames from rows like [[truth…], [tracked…]] with boxes at x positions. */
const frames = (rows: [LabelledBox[], LabelledBox[]][]): EvaluatedFrame[] => rows.map(([truth, tracked]) => ({ truth, tracked }));

describe('motMetrics', () => {
  it('scores a perfect tracking as IDF1 1 with no switches or fragments', () => {
    const m = motMetrics(
      frames(
        [0, 1, 2].map(() => [
          [at('A', 0), at('B', 50)],
          [at('1', 0), at('2', 50)],
        ]),
      ),
    );
    assert.deepEqual(
      [m.idf1, m.idSwitches, m.fragmentations, m.misses, m.falsePositives, m.mota, m.idsOnSeveralPeople],
      [1, 0, 0, 0, 0, 1, 0],
    );
  });

  it('counts one ID switch when a person’s id changes midway, and IDF1 keeps only the longer part', () => {
    // A is tracked as 1 for 3 frames, then as 2 for 1 frame.
    const m = motMetrics(
      frames([
        [[at('A', 0)], [at('1', 0)]],
        [[at('A', 0)], [at('1', 0)]],
        [[at('A', 0)], [at('1', 0)]],
        [[at('A', 0)], [at('2', 0)]],
      ]),
    );
    assert.equal(m.idSwitches, 1);
    assert.equal(m.idf1, (2 * 3) / (4 + 4));
    assert.equal(m.trackIds, 2);
  });

  it('counts a fragmentation when a tracked person is lost and found again (same id: no switch)', () => {
    const m = motMetrics(
      frames([
        [[at('A', 0)], [at('1', 0)]],
        [[at('A', 0)], []],
        [[at('A', 0)], [at('1', 0)]],
      ]),
    );
    assert.deepEqual([m.fragmentations, m.idSwitches, m.misses], [1, 0, 1]);
    assert.equal(m.idf1, (2 * 2) / (3 + 2));
  });

  it('does not count a fragmentation for a person who left the picture and came back', () => {
    const m = motMetrics(
      frames([
        [[at('A', 0)], [at('1', 0)]],
        [[], []],
        [[at('A', 0)], [at('1', 0)]],
      ]),
    );
    assert.deepEqual([m.fragmentations, m.idSwitches, m.misses], [0, 0, 0]);
  });

  it('catches one id covering two people (a swap) as two switches and a shared id', () => {
    // Two people swap their ids at frame 3.
    const m = motMetrics(
      frames([
        [
          [at('A', 0), at('B', 50)],
          [at('1', 0), at('2', 50)],
        ],
        [
          [at('A', 0), at('B', 50)],
          [at('1', 0), at('2', 50)],
        ],
        [
          [at('A', 0), at('B', 50)],
          [at('2', 0), at('1', 50)],
        ],
      ]),
    );
    assert.equal(m.idSwitches, 2);
    assert.equal(m.idsOnSeveralPeople, 2);
    assert.equal(m.idf1, (2 * 4) / (6 + 6));
  });

  it('pairs boxes only at IoU ≥ minIou: a far-off box is a miss and a false positive', () => {
    const m = motMetrics(frames([[[at('A', 0)], [at('1', 8)]]]), 0.5);
    assert.deepEqual([m.misses, m.falsePositives, m.idf1], [1, 1, 0]);
    assert.equal(m.mota, -1);
  });

  it('prefers continuing last frame’s pair when two tracker boxes fit one person equally', () => {
    const m = motMetrics(
      frames([
        [[at('A', 0)], [at('1', 0)]],
        [[at('A', 0)], [at('2', 0), at('1', 0)]],
      ]),
    );
    assert.deepEqual([m.idSwitches, m.falsePositives], [0, 1]);
  });
});
