/**
 * Issue 26, item 1: `emo streams list` tells the truth about each stream, from ingest. A running
 * ingest (`emo serve ingest`, its own process) on the real broker gets a file that does not exist, a
 * file that plays to its end, a camera that never answers and a spec whose id carries a newline and
 * terminal escapes; the statuses it writes, `emo streams list` (text and --json) and its /metrics agree.
 * Before: a missing file stayed `running` while /metrics said SOURCE_NOT_FOUND and 0 running.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { FrameSchema, KafkaBus, topicName, topics, type StreamStatus } from '@emostream/shared';
import {
  freePort,
  kafkaBrokers,
  kafkaTestConfig,
  randomPrefix,
  readEachRecordOnce,
  sharedData,
  testMediaDirs,
  waitFor,
} from '@emostream/shared/testing';
import { putStream } from '@emostream/ingest';
import { listStreamStatuses } from '../src/index.js';

const emo = fileURLToPath(new URL('../bin/emo.mjs', import.meta.url));

describe('stream statuses from a running ingest (real broker)', () => {
  const prefix = randomPrefix('stream-status');
  const dir = mkdtempSync(path.join(tmpdir(), 'stream-status-'));
  const cleanup: (() => unknown)[] = [];
  let bus: KafkaBus;
  let ingest: ChildProcess;
  let output = '';
  let stopping = false;
  let opsPort = 0;
  let deadPort = 0;
  /** Frames published per stream, end-of-stream markers apart. */
  const frames = new Map<string, number>();
  const ops = (route: string) =>
    new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port: opsPort, path: route, agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
      }).on('error', reject);
    });
  const metric = async (name: string, labels = '') =>
    Number(new RegExp(`^${name}${labels ? `\\{${labels}\\}` : ''} (\\S+)$`, 'm').exec(await ops('/metrics'))?.[1] ?? NaN);
  const emoCli = (args: string[]) =>
    spawnSync(process.execPath, [emo, ...args], {
      env: { ...process.env, KAFKA_BROKERS: kafkaBrokers(), EMOSTREAM_TOPIC_PREFIX: prefix, EMOSTREAM_LOG_LEVEL: 'error' },
      encoding: 'utf8',
    });
  const statuses = () => listStreamStatuses(bus, prefix);
  const statusOf = async (streamId: string, state: StreamStatus['state']) => {
    let last: StreamStatus | undefined;
    await waitFor(
      async () => {
        last = (await statuses()).get(streamId);
        return last?.state === state;
      },
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        message: () => `${streamId} to be ${state} (is ${JSON.stringify(last)}); ingest said:\n${output.slice(-3000)}`,
      },
    );
    return last!;
  };

  before(async () => {
    bus = new KafkaBus(kafkaTestConfig('stream-status-test'));
    cleanup.push(() => bus.close());
    opsPort = await freePort();
    deadPort = await freePort();
    ingest = spawn(process.execPath, [emo, 'serve', 'ingest'], {
      env: {
        ...process.env,
        KAFKA_BROKERS: kafkaBrokers(),
        EMOSTREAM_TOPIC_PREFIX: prefix,
        EMOSTREAM_INSTANCE_ID: 'ingest-0',
        EMOSTREAM_OPS_PORT: String(opsPort),
        EMOSTREAM_SESSION_TIMEOUT_MS: '6000',
        EMOSTREAM_LOG_LEVEL: 'info',
        INGEST_ALLOW_HOSTS: `127.0.0.1:${deadPort}`,
        INGEST_MEDIA_ROOTS: [...testMediaDirs(), dir].join(','),
        INGEST_RECONNECT_INITIAL_MS: '200',
        INGEST_RECONNECT_MAX_MS: '1000',
        INGEST_CONNECT_TIMEOUT_MS: '2000',
        INGEST_READ_TIMEOUT_MS: '2000',
        INGEST_STATUS_INTERVAL_MS: '200',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    ingest.stdout!.on('data', (chunk) => (output += chunk));
    ingest.stderr!.on('data', (chunk) => (output += chunk));
    ingest.on('exit', (code, signal) => {
      if (!stopping) console.error(`ingest exited (${code ?? signal}) during the test; its last output:\n${output.slice(-4000)}`);
    });
    cleanup.push(async () => {
      stopping = true;
      if (ingest.exitCode !== null) return;
      ingest.kill('SIGTERM');
      await once(ingest, 'exit');
    });
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    await waitFor(async () => (await readyStatus()) === 200, {
      message: () => `ingest to be ready; its output:\n${output.slice(-2000)}`,
      timeoutMs: 60_000,
      intervalMs: 250,
    });
    await bus.createTopics([{ name: topicName(topics.frames, prefix), partitions: topics.frames.defaultPartitions }]);
    const reader = await readEachRecordOnce(bus, `${prefix}.reader`, [topicName(topics.frames, prefix)], (record) => {
      if (!fromBinary(FrameSchema, record.value!).ref!.endOfStream) frames.set(record.key, (frames.get(record.key) ?? 0) + 1);
    });
    cleanup.push(() => reader.close());
  });

  function readyStatus() {
    return new Promise<number>((resolve) => {
      get({ host: '127.0.0.1', port: opsPort, path: '/readyz', agent: false }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      }).on('error', () => resolve(0));
    });
  }

  after(async () => {
    for (const step of cleanup.reverse()) await step();
  });

  it('reports a file that does not exist as failed SOURCE_NOT_FOUND, as /metrics counts it, and not running', async () => {
    await putStream(bus, prefix, { streamId: 'ghost', url: path.join(dir, 'no-such-file.mp4'), sampleFps: 0, maxWidth: 0 });
    const status = await statusOf('ghost', 'failed');
    assert.equal(status.code, 'SOURCE_NOT_FOUND');
    assert.match(status.message ?? '', /no such file/);
    assert.equal(status.instanceId, 'ingest-0');
    assert.equal(await metric('emostream_ingest_stream_errors_total', 'stream="ghost",reason="SOURCE_NOT_FOUND"'), 1);
    assert.equal(await metric('emostream_ingest_streams_running'), 0);

    const listed = emoCli(['streams', 'list']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(
      listed.stdout,
      /^ghost\tenabled\t\S+no-such-file\.mp4\tfailed \(SOURCE_NOT_FOUND: no such file: \S+, at \d{4}-\d\d-\d\dT[\d:]+Z\)$/m,
    );
    assert.doesNotMatch(listed.stdout, /running/);
  });

  it('reports a file that plays to its end as finished with the frames it published, and /metrics agrees', async () => {
    const clip = sharedData('labelled/cremad_1001_DFA_happy.flv');
    await putStream(bus, prefix, { streamId: 'clip', url: clip, sampleFps: 0, maxWidth: 0 });
    const status = await statusOf('clip', 'finished');
    await waitFor(() => (frames.get('clip') ?? 0) === status.frames, {
      message: () => `the frames topic to hold the ${status.frames} frames the status counts (has ${frames.get('clip')})`,
    });
    assert.ok(status.frames! > 5, `a clip of seconds has more than 5 sampled frames (status says ${status.frames})`);
    assert.ok(status.lastFrameAtMs! <= status.atMs && status.lastFrameAtMs! > Date.now() - 120_000);
    assert.equal(await metric('emostream_ingest_frames_total', 'stream="clip"'), status.frames);
    assert.equal(await metric('emostream_ingest_streams_running'), 0);

    const listed = emoCli(['streams', 'list', '--json']);
    assert.equal(listed.status, 0, listed.stderr);
    const clipEntry = (JSON.parse(listed.stdout) as { streamId: string; summary: string; status: StreamStatus | null }[]).find(
      (s) => s.streamId === 'clip',
    );
    assert.equal(clipEntry?.status?.state, 'finished');
    assert.equal(clipEntry?.status?.frames, status.frames);
    assert.match(clipEntry.summary, new RegExp(`^finished \\(${status.frames} frames, at \\S+Z\\)$`));
  });

  it('reports a camera that never answers as reconnecting with its attempt and last error, counted as running by /metrics', async () => {
    await putStream(bus, prefix, { streamId: 'dead-cam', url: `http://127.0.0.1:${deadPort}/live.flv`, sampleFps: 5, maxWidth: 0 });
    await statusOf('dead-cam', 'reconnecting');
    await waitFor(async () => ((await statuses()).get('dead-cam')?.attempt ?? 0) >= 2, {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'a second reconnect attempt',
    });
    const status = (await statuses()).get('dead-cam')!;
    assert.match(status.code ?? '', /^SOURCE_/);
    assert.equal(status.state, 'reconnecting');
    assert.equal(await metric('emostream_ingest_streams_running'), 1);
    const listed = emoCli(['streams', 'list']);
    assert.match(
      listed.stdout,
      /^dead-cam\tenabled\thttp:\/\/127\.0\.0\.1:\d+\/live\.flv\t5 fps\treconnecting on ingest-0 \(attempt \d+, last error SOURCE_\w+: /m,
    );

    // Removed: ingest stops it and deletes its status; nothing is left running.
    const removed = emoCli(['streams', 'remove', 'dead-cam']);
    assert.equal(removed.status, 0, removed.stderr);
    await waitFor(async () => !(await statuses()).has('dead-cam'), {
      timeoutMs: 30_000,
      intervalMs: 250,
      message: 'the status of the removed stream to be gone',
    });
    await waitFor(async () => (await metric('emostream_ingest_streams_running')) === 0, { message: 'no stream running' });
  });

  it('prints an id with a newline and terminal escapes escaped, on one line, refused INVALID_STREAM_ID', async () => {
    const hostile = 'evil\n\u001b[2J\u001b]0;owned\u0007\u202etxt';
    await putStream(bus, prefix, { streamId: hostile, url: path.join(dir, 'x.mp4'), sampleFps: 0, maxWidth: 0 });
    await statusOf(hostile, 'refused');
    const listed = emoCli(['streams', 'list']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.doesNotMatch(listed.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/, 'no control character reaches the terminal');
    assert.match(listed.stdout, /^evil\\n\\x1b\[2J\\x1b\]0;owned\\x07\\u\{202e\}txt\tenabled\t\S+x\.mp4\trefused \(INVALID_STREAM_ID: /m);
    // One line per stream: the newline in the id did not start another.
    assert.deepEqual(
      listed.stdout
        .trimEnd()
        .split('\n')
        .map((line) => line.split('\t')[0]),
      ['clip', 'evil\\n\\x1b[2J\\x1b]0;owned\\x07\\u{202e}txt', 'ghost'],
    );
    const json = emoCli(['streams', 'list', '--json']);
    assert.doesNotMatch(json.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
    assert.ok(
      (JSON.parse(json.stdout) as { streamId: string }[]).some((s) => s.streamId === hostile),
      'the JSON keeps the id, escaped',
    );
  });
});
