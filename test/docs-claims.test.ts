// docs/architecture.md says what the code is ("when code and page disagree, the code wins: fix the
// page in the same change"). The claims a program can check are checked here (see docs-claims.ts),
// so a change that makes the page wrong fails until the page is fixed with it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { ARCHITECTURE_DOC, architectureClaimProblems, gatherCodeFacts, type CodeFacts } from './docs-claims.js';

describe('docs/architecture.md against the code', () => {
  let facts: CodeFacts;
  let page: string;
  before(() => {
    facts = gatherCodeFacts();
    page = readFileSync(ARCHITECTURE_DOC, 'utf8');
  });

  it('names the registered topics, event schemas, detector, settings, error codes, files and code names as they are', () => {
    assert.deepEqual(architectureClaimProblems(page, facts), []);
  });

  it('the facts it is checked against are the real ones, not empty sets', () => {
    assert.ok(facts.topicNames.has('<p>.events.v2') && facts.topicNames.size >= 10, [...facts.topicNames].join(', '));
    assert.deepEqual([...facts.eventSchemas].sort(), ['emostream.event.face.v2', 'emostream.event.track_summary.v2']);
    assert.ok(facts.detectorOpeners.size > 0, 'no production code opens a detector');
    assert.ok(facts.envDefaults.has('FACE_MIN_SIZE') && facts.envDefaults.has('EMOSTREAM_LOG_LEVEL'));
    assert.equal(facts.envDefaults.get('TEMPORAL_REPLAY_RECORDS'), 2_000);
  });

  // Each edit is one kind of drift; the page with it must fail, naming what is wrong.
  const drifts: [string, (text: string) => string, RegExp][] = [
    [
      'a topic version the registry lacks',
      (t) => t.replace('`<p>.events.v2`', '`<p>.events.v3`'),
      /<p>\.events\.v3 is not in the topic registry/,
    ],
    [
      'a registered topic left out',
      (t) => t.replaceAll('<p>.face-tracker-state.v1', 'the changelog'),
      /<p>\.face-tracker-state\.v1 \(registry\) is not named/,
    ],
    [
      'an old event schema version',
      (t) => t.replace('emostream.event.track_summary.v2', 'emostream.event.track_summary.v1'),
      /event schema emostream\.event\.track_summary\.v1/,
    ],
    ['another detector path', (t) => t.replaceAll('openPackFaceDetector', 'openStageDetector'), /openStageDetector opens detectors/],
    [
      'a variable nobody declares',
      (t) => t.replace('`FACE_MIN_SIZE`', '`FACE_MINIMUM_SIZE`'),
      /FACE_MINIMUM_SIZE is not a declared setting/,
    ],
    [
      'a default that is not the schema default',
      (t) => t.replace('`TEMPORAL_REPLAY_RECORDS`, 2,000', '`TEMPORAL_REPLAY_RECORDS`, 3,000'),
      /TEMPORAL_REPLAY_RECORDS: the page says 3,000, its default is 2000/,
    ],
    [
      'an error code that is gone',
      (t) => t.replace('`TRACKER_REWIND_TOO_FAR`', '`TRACKER_REWOUND`'),
      /TRACKER_REWOUND is neither an error code/,
    ],
    [
      'a file that moved',
      (t) => t.replace('`cli/src/stage-settings.ts`', '`cli/src/stage-config.ts`'),
      /path cli\/src\/stage-config\.ts does not exist/,
    ],
    ['a name that is gone', (t) => t.replace('`handleBatch`', '`handleBatches`'), /handleBatches is not a name in the code/],
  ];
  for (const [what, edit, expected] of drifts) {
    it(`fails on ${what}`, () => {
      const edited = edit(page);
      assert.notEqual(edited, page, `the edit for "${what}" no longer applies to the page: update it`);
      const problems = architectureClaimProblems(edited, facts);
      assert.ok(
        problems.some((p) => expected.test(p)),
        `expected a problem matching ${String(expected)}; got: ${problems.join('; ') || 'none'}`,
      );
    });
  }
});
