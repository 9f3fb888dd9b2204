import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertStaysTrue } from '../src/testing.js';

describe('assertStaysTrue', () => {
  it('passes once the condition held for the whole window and the positive control held', async () => {
    let checks = 0;
    const started = Date.now();
    await assertStaysTrue(() => (checks += 1) > 0, { forMs: 100, provenPossible: () => true, message: 'x', provenMessage: 'y' });
    assert.ok(Date.now() - started >= 100, 'watched for at least forMs');
    assert.ok(checks > 1, 'polled the condition more than once');
  });

  it('fails on the first false, naming the condition, without waiting out the window', async () => {
    let broken = false;
    setTimeout(() => (broken = true), 50);
    const started = Date.now();
    await assert.rejects(
      assertStaysTrue(() => !broken, { forMs: 5_000, provenPossible: () => true, message: 'no duplicate', provenMessage: 'marker' }),
      /stopped holding after \d+ ms: no duplicate/,
    );
    assert.ok(Date.now() - started < 2_000, 'failed at the first false, not at the end of the window');
  });

  it('watches on past forMs until the positive control holds (a slow machine waits longer, it does not pass sooner)', async () => {
    let proven = false;
    setTimeout(() => (proven = true), 300);
    const started = Date.now();
    await assertStaysTrue(() => true, { forMs: 10, provenPossible: () => proven, message: 'x', provenMessage: 'y' });
    assert.ok(Date.now() - started >= 300, 'returned before the control held');
  });

  it('catches a break that comes with the positive control (the condition is checked after the control held)', async () => {
    let step = 0;
    // The control turns true and breaks the condition in the same moment: as a marker behind a duplicate.
    await assert.rejects(
      assertStaysTrue(() => step < 2, {
        forMs: 0,
        provenPossible: () => (step += 1) >= 2,
        message: 'no duplicate',
        provenMessage: 'marker',
      }),
      /no duplicate/,
    );
  });

  it('fails when the positive control never holds: a quiet window alone proves nothing', async () => {
    await assert.rejects(
      assertStaysTrue(() => true, {
        forMs: 10,
        provenPossible: () => false,
        timeoutMs: 200,
        message: 'no duplicate',
        provenMessage: 'the marker never came out',
      }),
      /positive control never held within 200 ms, so "no duplicate" proves nothing: the marker never came out/,
    );
  });
});
