import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { KafkaBus } from '@emostream/shared';
import { kafkaBrokers, kafkaTestConfig } from '@emostream/shared/testing';
import { listStreams } from '../src/index.js';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

function runEmo(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [emo, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });
}

describe('emo streams, on the real broker', () => {
  it('adds, changes, removes and lists streams on the compacted streams topic', async () => {
    const env = { KAFKA_BROKERS: kafkaBrokers(), EMOSTREAM_TOPIC_PREFIX: `cli-${process.pid}-${Date.now()}`, EMOSTREAM_LOG_LEVEL: 'error' };
    for (const args of [
      ['streams', 'add', 'lobby', '/videos/lobby.mp4'],
      ['streams', 'add', 'door', 'rtsp://127.0.0.1:8554/door', '--fps', '2'],
      ['streams', 'add', 'door', 'rtsp://127.0.0.1:8554/door-hd', '--fps', '4'],
      ['streams', 'add', 'yard', 'webcam:/dev/video2', '--disabled'],
      ['streams', 'remove', 'lobby'],
    ]) {
      const result = runEmo(args, env);
      assert.equal(result.status, 0, result.stderr);
    }
    const bus = new KafkaBus(kafkaTestConfig('cli-test'));
    const specs = await listStreams(bus, env.EMOSTREAM_TOPIC_PREFIX);
    await bus.close();
    assert.deepEqual(
      specs.map((s) => [s.streamId, s.url, s.sampleFps, s.enabled]),
      [
        ['door', 'rtsp://127.0.0.1:8554/door-hd', 4, true],
        ['yard', 'webcam:/dev/video2', 0, false],
      ],
    );
    const listed = runEmo(['streams', 'list'], env);
    assert.equal(listed.status, 0, listed.stderr);
    // No ingest runs here: the enabled stream says so rather than showing nothing (or something stale).
    assert.match(
      listed.stdout,
      /^door\tenabled\trtsp:\/\/127\.0\.0\.1:8554\/door-hd\t4 fps\tno status from ingest yet\nyard\tdisabled\twebcam:\/dev\/video2\n$/,
    );
  });

  it('stores a relative file path as an absolute one, and refuses to remove a stream that does not exist', async () => {
    const env = {
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: `cli-paths-${process.pid}-${Date.now()}`,
      EMOSTREAM_LOG_LEVEL: 'error',
    };
    const added = spawnSync(process.execPath, [emo, 'streams', 'add', 'lobby', 'videos/lobby.mp4'], {
      cwd: '/tmp',
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    assert.equal(added.status, 0, added.stderr);
    assert.match(added.stdout, /lobby → \/tmp\/videos\/lobby\.mp4/);
    const removed = runEmo(['streams', 'remove', 'nosuch'], env);
    assert.equal(removed.status, 2);
    assert.match(removed.stderr, /^emo: no stream "nosuch"/);
    assert.doesNotMatch(removed.stdout, /removed/);
    const bus = new KafkaBus(kafkaTestConfig('cli-test'));
    const specs = await listStreams(bus, env.EMOSTREAM_TOPIC_PREFIX);
    await bus.close();
    assert.deepEqual(
      specs.map((s) => [s.streamId, s.url]),
      [['lobby', '/tmp/videos/lobby.mp4']],
    );
  });

  it('fails with a clear message, not a stack trace, when no broker is configured', () => {
    const result = runEmo(['streams', 'list'], { KAFKA_BROKERS: '' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /^emo: invalid configuration .*\n\s+- kafka\.brokers: Required when bus is kafka \(env KAFKA_BROKERS\)/);
    assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/);
  });
});
