/**
 * The commands the README's quick tour and docs/consumers.md tell people to type, extracted from the
 * docs and run as written: in a shell, from a fresh folder holding the inputs the tour names
 * (clip.mp4, other.flv, videos/), with the repository's relative paths (cli/bin/emo.mjs, scripts/…,
 * examples/…) made absolute and the placeholders for the broker's address (`…`, `<port>`) replaced
 * by the address `node scripts/kafka/kafka.mjs start` printed. Each line is matched to how it is
 * run (to its exit, or in the background until it answers); a line added to the docs without a
 * rule here fails the test, and so does a rule whose line left the docs.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { eventsTopic, KafkaBus, topicName } from '@emostream/shared';
import { faceEventFixture, ffmpeg, kafkaBrokers, kafkaTestConfig, waitFor } from '@emostream/shared/testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const media = path.join(root, 'test', 'media', 'labelled');

/** The command lines (comments and blank lines dropped) of the first ```sh block after `heading`. */
function commandsAfter(file: string, heading: string): string[] {
  const text = readFileSync(path.join(root, file), 'utf8');
  const from = text.indexOf(heading);
  assert.ok(from >= 0, `${file} has "${heading}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(from));
  assert.ok(block, `${file}: a sh block after "${heading}"`);
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/** The docs' command as a user in the repository's root would run it, from `cwd`. */
function asTyped(line: string, brokers: string): string {
  return line
    .replace(/KAFKA_BROKERS=…/g, `KAFKA_BROKERS=${brokers}`)
    .replace(/127\.0\.0\.1:<port>/g, brokers)
    .replace(/\bnode (cli|scripts|examples)\//g, `node ${root}/$1/`)
    .replace(/^npm run /, `npm --prefix ${root} run `);
}

type How =
  | { run: 'to-exit'; check?: (stdout: string) => void }
  | { run: 'background'; readyWhen: (output: string) => boolean | Promise<boolean>; then?: 'SIGINT' }
  | { run: 'not-here'; why: string };

const answers = async (url: string) => (await fetch(url).catch(() => undefined))?.ok === true;

interface Shell {
  cwd: string;
  env: NodeJS.ProcessEnv;
  background: ChildProcess[];
}

async function runLine(shell: Shell, command: string, how: How): Promise<void> {
  if (how.run === 'not-here') return;
  if (how.run === 'to-exit') {
    const done = spawnSync('bash', ['-c', command], { cwd: shell.cwd, env: shell.env, encoding: 'utf8', timeout: 300_000 });
    assert.equal(done.status, 0, `${command} exits 0; stderr:\n${done.stderr.slice(-3000)}`);
    how.check?.(done.stdout);
    return;
  }
  // Its own process group, so that a signal reaches the command and not only its shell.
  const child = spawn('bash', ['-c', command], { cwd: shell.cwd, env: shell.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  shell.background.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await waitFor(
    async () => {
      assert.equal(child.exitCode, null, `${command} is still running; stderr:\n${stderr.slice(-3000)}`);
      return await how.readyWhen(stdout + stderr);
    },
    { timeoutMs: 300_000, intervalMs: 500, message: () => `${command} to be ready; stderr:\n${stderr.slice(-3000)}` },
  );
  if (how.then === 'SIGINT') await stopGroup(child, 'SIGINT');
}

/** Signals a background line's whole process group (its shell and the command) and waits for the shell. */
async function stopGroup(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  process.kill(-child.pid!, signal);
  await exited;
}

/** Runs every line of a docs block by its rule, checking the rules and the block name the same lines. */
async function runBlock(shell: Shell, lines: string[], rules: Map<string, How>, brokers: () => string): Promise<void> {
  assert.deepEqual([...rules.keys()].sort(), [...lines].sort(), 'a rule for every command of the docs, and no other');
  for (const line of lines) await runLine(shell, asTyped(line, brokers()), rules.get(line)!);
}

describe('the docs, run as written', () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'emostream-docs-'));
  const shell: Shell = { cwd, env: { ...process.env, EMOSTREAM_LOG_LEVEL: 'warn' }, background: [] };

  before(() => {
    // The inputs the tour names, in the folder it is typed in.
    ffmpeg(['-y', '-i', path.join(media, 'cremad_1001_DFA_happy.flv'), '-c:v', 'libx264', '-an', path.join(cwd, 'clip.mp4')]);
    copyFileSync(path.join(media, 'cremad_1001_DFA_anger.flv'), path.join(cwd, 'other.flv'));
    mkdirSync(path.join(cwd, 'videos'));
    copyFileSync(path.join(media, 'cremad_1001_DFA_sad.flv'), path.join(cwd, 'videos', 'sad.flv'));
  });
  after(async () => {
    for (const child of shell.background.reverse()) await stopGroup(child, 'SIGTERM');
  });

  it("README's quick tour", async () => {
    let brokers = '';
    const rules = new Map<string, How>([
      ['npm run demo', { run: 'to-exit' }],
      [
        'node cli/bin/emo.mjs run clip.mp4 other.flv',
        {
          run: 'to-exit',
          check: (stdout) => assert.match(stdout, /clip\.csv/, `the files written are named: ${stdout}`),
        },
      ],
      [
        'node cli/bin/emo.mjs run videos/ --serve 8080 --out videos-output',
        // Serves the live view after the run, until Ctrl-C: ready once the page answers and the run is summarised.
        { run: 'background', readyWhen: async (output) => /sad/.test(output) && (await answers('http://127.0.0.1:8080/')), then: 'SIGINT' },
      ],
      ['node cli/bin/emo.mjs run rtsp://cam.local/stream webcam:/dev/video0', { run: 'not-here', why: 'a camera and a webcam' }],
      ['node cli/bin/emo.mjs models list', { run: 'to-exit', check: (stdout) => assert.match(stdout, /default/) }],
      ['node cli/bin/emo.mjs models verify default', { run: 'to-exit' }],
      [
        'node scripts/kafka/kafka.mjs start',
        {
          run: 'background',
          readyWhen: (stdout) => {
            brokers = /^KAFKA_BROKERS=(.+)$/m.exec(stdout)?.[1] ?? '';
            return brokers !== '';
          },
        },
      ],
      [
        'KAFKA_BROKERS=… node cli/bin/emo.mjs serve ingest',
        { run: 'background', readyWhen: () => answers('http://127.0.0.1:9401/readyz') },
      ],
      ['KAFKA_BROKERS=… node cli/bin/emo.mjs serve face', { run: 'background', readyWhen: () => answers('http://127.0.0.1:9402/readyz') }],
      ['KAFKA_BROKERS=… node cli/bin/emo.mjs streams add lobby rtsp://camera.local/stream', { run: 'to-exit' }],
      ['KAFKA_BROKERS=… node cli/bin/emo.mjs streams list', { run: 'to-exit', check: (stdout) => assert.match(stdout, /lobby/) }],
    ]);
    const lines = commandsAfter('README.md', '### Quick tour');
    await runBlock(shell, lines, rules, () => brokers);
    const notRun = [...rules].filter(([, how]) => how.run === 'not-here').map(([line]) => line);
    assert.deepEqual(
      notRun,
      ['node cli/bin/emo.mjs run rtsp://cam.local/stream webcam:/dev/video0'],
      'only the camera line is not run here',
    );
  });

  it("docs/consumers.md's kcat and Node.js consumer", async () => {
    // Two events on the default events topic, as the sink writes them.
    const bus = new KafkaBus(kafkaTestConfig('docs'));
    const streamId = `docs-${process.pid}`;
    try {
      const topic = topicName(eventsTopic, 'emostream');
      await bus.createTopics([{ name: topic, partitions: eventsTopic.defaultPartitions }]);
      const producer = await bus.producer();
      await producer.send(
        [1, 2].map((seq) => ({
          topic,
          key: streamId,
          value: Buffer.from(JSON.stringify(faceEventFixture({ streamId, seq }))),
        })),
      );
      await producer.close();
    } finally {
      await bus.close();
    }
    const rules = new Map<string, How>([
      [
        'export KAFKA_BROKERS=127.0.0.1:<port>',
        { run: 'not-here', why: 'sets the shell variable every other line reads: the test sets it' },
      ],
      [
        `kcat -C -b "$KAFKA_BROKERS" -t emostream.events.v2 -o beginning -e -f '%p@%o %k %s\\n'`,
        {
          run: 'to-exit',
          check: (stdout) => assert.equal(stdout.split('\n').filter((l) => l.includes(` ${streamId} {`)).length, 2, stdout),
        },
      ],
      [
        'node examples/events-consumer.mjs --from-beginning',
        { run: 'background', readyWhen: (stdout) => stdout.split('\n').filter((l) => l.includes(streamId)).length >= 2, then: 'SIGINT' },
      ],
    ]);
    const lines = [
      ...commandsAfter('docs/consumers.md', '## A first look with kcat'),
      ...commandsAfter('docs/consumers.md', '## A consumer in Node.js'),
    ];
    await runBlock({ ...shell, env: { ...shell.env, KAFKA_BROKERS: kafkaBrokers() } }, lines, rules, () => kafkaBrokers());
  });
});
