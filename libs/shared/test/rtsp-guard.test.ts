import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtspAnswerScanner } from '../src/index.js';

const answer = (status: string, headers: string[] = [], body = '') =>
  Buffer.from(
    `RTSP/1.0 ${status}\r\nCSeq: 1\r\n${headers.map((h) => `${h}\r\n`).join('')}${body ? `Content-Length: ${body.length}\r\n` : ''}\r\n${body}`,
  );
const interleaved = (length: number) => Buffer.concat([Buffer.from([0x24, 0, length >> 8, length & 0xff]), Buffer.alloc(length, 0x24)]);

describe('RTSP guard: the server side, message by message', () => {
  it('passes whole answers and interleaved RTP frames (even ones whose bytes look like an answer), holding back what is incomplete', () => {
    const scanner = new RtspAnswerScanner();
    const sdp = 'v=0\r\nm=video 0 RTP/AVP 96\r\n\r\nRTSP/1.0 302 x\r\n';
    const stream = Buffer.concat([
      answer('200 OK', ['Public: DESCRIBE']),
      answer('200 OK', ['Content-Type: application/sdp'], sdp),
      interleaved(300),
    ]);
    let forwarded = Buffer.alloc(0);
    // One byte at a time: every boundary falls inside a message somewhere.
    for (const byte of stream) {
      const { forward, refusal } = scanner.push(Buffer.from([byte]));
      assert.equal(refusal, undefined);
      forwarded = Buffer.concat([forwarded, forward]);
    }
    assert.deepEqual(forwarded, stream);
  });

  it('refuses a 3xx answer before any byte of it is passed on, wherever the chunks split it', () => {
    for (const split of [1, 10, 40]) {
      const scanner = new RtspAnswerScanner();
      const redirect = answer('302 Moved', ['Location: rtsp://169.254.169.254/latest']);
      const head = scanner.push(Buffer.concat([answer('200 OK'), redirect.subarray(0, split)]));
      assert.equal(head.refusal, undefined);
      assert.deepEqual(head.forward, answer('200 OK'), 'only the whole answer before it');
      const rest = scanner.push(redirect.subarray(split));
      assert.equal(rest.refusal?.reason, 'REDIRECT_NOT_ALLOWED');
      assert.match(rest.refusal.message, /answered 302 redirecting to rtsp:\/\/169\.254\.169\.254\/latest/);
      assert.equal(rest.forward.length, 0);
    }
    assert.equal(new RtspAnswerScanner().push(answer('301 Moved Permanently')).refusal?.reason, 'REDIRECT_NOT_ALLOWED');
    assert.equal(
      new RtspAnswerScanner().push(answer('305 Use Proxy', ['Location: rtsp://proxy/'])).refusal?.reason,
      'REDIRECT_NOT_ALLOWED',
    );
  });

  it('refuses a header block that never ends (64 KiB)', () => {
    const scanner = new RtspAnswerScanner();
    assert.equal(scanner.push(Buffer.from(`RTSP/1.0 200 OK\r\nX: ${'a'.repeat(70_000)}`)).refusal?.reason, 'MALFORMED_ANSWER');
  });
});
