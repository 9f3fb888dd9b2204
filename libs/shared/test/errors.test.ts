import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusError, ConfigError, DecodeError, ERROR_CODES, StageError, toStageError, type ErrorCode } from '../src/index.js';

describe('error codes', () => {
  it("gives every error its code's retriability, wherever it is thrown", () => {
    for (const [code, info] of Object.entries(ERROR_CODES) as [ErrorCode, { retriable: boolean }][]) {
      assert.equal(new StageError(code, 'test').retriable, info.retriable, code);
    }
    // Both kinds exist: a table of one kind would make the runtime's branch on retriable dead.
    assert.ok(Object.values(ERROR_CODES).some((info) => info.retriable));
    assert.ok(Object.values(ERROR_CODES).some((info) => !info.retriable));
  });

  it('a bus away is retriable; a refusal, an oversized record or a fenced producer is not', () => {
    assert.equal(new BusError('broker away').retriable, true);
    assert.equal(new BusError('broker away').code, 'BUS_FAILED');
    for (const code of ['BUS_REFUSED', 'RECORD_TOO_LARGE', 'PRODUCER_FENCED'] as const) {
      assert.equal(new BusError('refused', { code }).retriable, false, code);
    }
  });

  it('STOPPED is not retriable: a stopping stage abandons its work, it does not retry it', () => {
    assert.equal(new StageError('STOPPED', 'stopping').retriable, false);
  });

  it('a ConfigError is a StageError with code CONFIG_INVALID, not retriable', () => {
    const error = new ConfigError('KAFKA_BROKERS is not set', [{ path: 'kafka.brokers', env: 'KAFKA_BROKERS', problem: 'not set' }]);
    assert.ok(error instanceof StageError);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.retriable, false);
    assert.equal(toStageError(error), error);
    assert.equal(error.oneLine(), 'invalid configuration: not set');
  });

  it('a DecodeError is DECODE_FAILED and anything else thrown becomes HANDLER_FAILED, neither retriable', () => {
    assert.equal(new DecodeError('bad bytes').code, 'DECODE_FAILED');
    const wrapped = toStageError(new TypeError('boom'));
    assert.equal(wrapped.code, 'HANDLER_FAILED');
    assert.equal(wrapped.retriable, false);
    assert.equal(toStageError('a string').code, 'HANDLER_FAILED');
  });
});
