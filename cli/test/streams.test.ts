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

  it("refuses a spec that ingest's source policy would refuse, with the reason, and writes nothing to the streams topic", async () => {
    const env = {
      KAFKA_BROKERS: kafkaBrokers(),
      EMOSTREAM_TOPIC_PREFIX: `cli-policy-${process.pid}-${Date.now()}`,
      EMOSTREAM_LOG_LEVEL: 'error',
      // The operator's ingest settings, as the ingest deployment has them.
      INGEST_MEDIA_ROOTS: '/srv/media',
      INGEST_ALLOW_HOSTS: '10.20.0.0/16',
      INGEST_ALLOWED_SCHEMES: 'rtsp,file,webcam',
      INGEST_CREDENTIALS_SCOPE: 'env:INGEST_CREDENTIAL_DOOR=rtsp://10.20.0.9:554',
    };
    for (const [url, refusal] of [
      [
        '/etc/passwd',
        /^emo: ingest would refuse this stream \(FILE_OUTSIDE_MEDIA_ROOTS\): file "\/etc\/passwd" refused: .*INGEST_MEDIA_ROOTS: \/srv\/media/,
      ],
      ['rtsp://127.0.0.1:8554/door', /^emo: ingest would refuse this stream \(ADDRESS_NOT_ALLOWED\): host 127\.0\.0\.1 is a loopback/],
      ['rtsp://169.254.169.254/latest', /^emo: ingest would refuse this stream \(ADDRESS_NOT_ALLOWED\)/],
      ['http://10.20.0.5/cam.mjpg', /^emo: ingest would refuse this stream \(SCHEME_NOT_ALLOWED\): .*INGEST_ALLOWED_SCHEMES/],
      ['ftp://10.20.0.5/cam', /^emo: ingest would refuse this stream \(INVALID_URL\): unsupported stream URL scheme/],
      ['webcam:/etc/shadow', /^emo: ingest would refuse this stream \(DEVICE_NOT_ALLOWED\)/],
      // Issue 27: a URL the policy and ffmpeg read differently (the policy saw the allowed host).
      ['rtsp://10.20.0.5:1\\@127.0.0.2:2/', /^emo: (ingest would refuse this stream \(INVALID_URL\)|.* carries a credential inline)/],
      // Issue 27: a credential reference no INGEST_CREDENTIALS_SCOPE binds to this camera.
      ['rtsp://admin:${env:INGEST_CREDENTIAL_DOOR}@10.20.0.5/door', /^emo: ingest would refuse this stream \(CREDENTIAL_NOT_BOUND\)/],
    ] as const) {
      const result = runEmo(['streams', 'add', 'cam', url], env);
      assert.equal(result.status, 2, `${url}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, refusal, url);
      assert.equal(result.stdout, '', url);
    }
    // Issue 27: a sampling rate over ingest's limit (INGEST_MAX_SAMPLE_FPS, 30 by default).
    const tooFast = runEmo(['streams', 'add', 'cam', 'rtsp://10.20.0.5/door', '--fps', '1000'], env);
    assert.equal(tooFast.status, 2, tooFast.stderr);
    assert.match(tooFast.stderr, /^emo: ingest would refuse this stream \(SPEC_OUT_OF_RANGE\)/);
    const bus = new KafkaBus(kafkaTestConfig('cli-test'));
    try {
      assert.deepEqual(await listStreams(bus, env.EMOSTREAM_TOPIC_PREFIX), [], 'nothing written to the streams topic');
      // Allowed by the same settings: written. A host name is not resolved here, and says so.
      const allowed = runEmo(['streams', 'add', 'cam', 'rtsp://10.20.0.5/door'], env);
      assert.equal(allowed.status, 0, allowed.stderr);
      assert.doesNotMatch(allowed.stdout, /not checked/);
      const named = runEmo(['streams', 'add', 'named', 'rtsp://door-cam.cameras.internal/live'], env);
      assert.equal(named.status, 0, named.stderr);
      assert.match(named.stdout, /^not checked here, will be checked by ingest: the host name \(ingest resolves it/m);
      assert.deepEqual(
        (await listStreams(bus, env.EMOSTREAM_TOPIC_PREFIX)).map((s) => s.streamId),
        ['cam', 'named'],
      );
    } finally {
      await bus.close();
    }
  });

  it('fails with a clear message, not a stack trace, when no broker is configured', () => {
    const result = runEmo(['streams', 'list'], { KAFKA_BROKERS: '' });
    assert.equal(result.status, 1);
    assert.match(
      result.stderr,
      /^emo: invalid configuration \(environment\): KAFKA_BROKERS is not set \(Required when bus is kafka\); set it: /,
    );
    assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/);
  });
});
