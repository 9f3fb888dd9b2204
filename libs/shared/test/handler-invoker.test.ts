import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  makeMessage,
  moduleLogger,
  StageError,
  StageMetrics,
  topics,
  type HandlerContext,
  type StageDefinition,
  type StageInput,
} from '../src/index.js';
import { HandlerInvoker } from '../src/runtime/handler-invoker.js';

type FrameDesc = typeof topics.frames.schema;

function inputs(count: number): StageInput<FrameDesc>[] {
  return Array.from({ length: count }, (_, i) => ({
    value: makeMessage(topics.frames, { ref: { streamId: 'lobby', seq: i } }),
    key: 'lobby',
    headers: {},
    topic: 'in',
    partition: 0,
    offset: String(i),
    timestampMs: 0,
  }));
}

const context = { emit: () => ({ topic: 'out', key: 'k', value: null }), emitRaw: () => ({ topic: 'out', key: 'k', value: null }) };

function invoker(definition: Partial<StageDefinition<FrameDesc>>, maxRetries = 2) {
  const registry = new Registry();
  const noted: number[] = [];
  const metrics = new StageMetrics('invoker', registry);
  const invoker = new HandlerInvoker<FrameDesc>({
    definition: { name: 'invoker', input: topics.frames, outputs: [], ...definition },
    context: { ...context, logger: moduleLogger('invoker-test') } as HandlerContext,
    metrics,
    logger: moduleLogger('invoker-test'),
    maxRetries,
    retryBackoffMs: 1,
    noteInputs: (batch) => noted.push(batch.length),
  });
  const retries = async (code: string) => (await metrics.retries.get()).values.find((v) => v.labels.code === code)?.value ?? 0;
  return { invoker, noted, retries };
}

describe('HandlerInvoker', () => {
  it('gives each input its own result: outputs, or the non-retriable error that dead-letters it alone', async () => {
    const t = invoker({
      handle(input) {
        if (input.offset === '1') throw new StageError('FRAME_UNDECODABLE', 'bad frame');
        return [{ topic: 'out', key: input.key, value: null }];
      },
    });
    const results = await t.invoker.invoke(inputs(3));
    assert.equal(results.length, 3);
    assert.ok(Array.isArray(results[0]) && Array.isArray(results[2]));
    assert.ok(results[1] instanceof StageError && results[1].code === 'FRAME_UNDECODABLE');
    assert.deepEqual(t.noted, [3], 'the inputs were noted before the handler ran');
  });

  it('applies a non-retriable error thrown by handleBatch to every input, and a wrong result count as HANDLER_CONTRACT', async () => {
    const thrown = invoker({ handleBatch: () => Promise.reject(new StageError('CROP_SIZE', 'wrong size')) });
    const results = await thrown.invoker.invoke(inputs(2));
    assert.deepEqual(
      results.map((r) => (r instanceof StageError ? r.code : 'ok')),
      ['CROP_SIZE', 'CROP_SIZE'],
    );
    const short = invoker({ handleBatch: () => Promise.resolve([[]]) });
    assert.deepEqual(
      (await short.invoker.invoke(inputs(2))).map((r) => (r instanceof StageError ? r.code : 'ok')),
      ['HANDLER_CONTRACT', 'HANDLER_CONTRACT'],
    );
  });

  it('retries a retriable failure a bounded number of times, counting each, then gives the inputs its code', async () => {
    let calls = 0;
    const t = invoker({
      handleBatch: () => {
        calls += 1;
        return Promise.reject(new StageError('MODEL_FAILED', 'the inference thread died'));
      },
    });
    const results = await t.invoker.withRetries(inputs(2), () => true);
    assert.equal(calls, 3, 'the first try and 2 retries');
    assert.equal(await t.retries('MODEL_FAILED'), 2);
    for (const result of results) {
      assert.ok(result instanceof StageError);
      assert.equal(result.code, 'MODEL_FAILED');
      assert.match(result.message, /gave up after 3 attempts: the inference thread died/);
    }
  });

  it('succeeds on a retry once the failure passes', async () => {
    let calls = 0;
    const t = invoker({
      handle: (input) => {
        calls += 1;
        if (calls === 1) throw new StageError('MODEL_FAILED', 'once');
        return [{ topic: 'out', key: input.key, value: null }];
      },
    });
    const results = await t.invoker.withRetries(inputs(1), () => true);
    assert.ok(Array.isArray(results[0]));
    assert.equal(await t.retries('MODEL_FAILED'), 1);
  });

  it('throws the retriable failure when the partition is revoked (or the stage stops) during a pause', async () => {
    const t = invoker({ handleBatch: () => Promise.reject(new StageError('MODEL_FAILED', 'busy')) }, 5);
    await assert.rejects(
      t.invoker.withRetries(inputs(1), () => false),
      /busy/,
    );
  });

  it('runs no handler for no inputs', async () => {
    const t = invoker({ handleBatch: () => Promise.reject(new Error('must not run')) });
    assert.deepEqual(await t.invoker.invoke([]), []);
    assert.deepEqual(t.noted, []);
  });
});
