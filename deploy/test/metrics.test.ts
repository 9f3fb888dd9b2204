/**
 * The dashboard and the alert rules name only metrics that the stages really export: each stage
 * runs as `emo serve <stage>` (the container's command) on the in-memory bus with its ops server on
 * a free loopback port, and its /metrics is scraped once it is ready.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort, waitFor } from '@emostream/shared/testing';
import { familyOf, metricNames } from '../lib/promql.js';
import { EXTERNAL_METRICS, shippedExpressions } from '../lib/monitoring.js';
import { REPO_ROOT } from '../lib/paths.js';

const STAGES = ['ingest', 'face', 'backbone', 'temporal', 'sink'] as const;
const emo = path.join(REPO_ROOT, 'cli', 'bin', 'emo.mjs');

describe('metrics of the dashboard and alerts', () => {
  const children: ChildProcess[] = [];
  const families = new Set<string>();
  const perStage = new Map<string, Set<string>>();

  before(async () => {
    await Promise.all(
      STAGES.map(async (stage) => {
        const port = await freePort();
        let output = '';
        const child = spawn(process.execPath, [emo, 'serve', stage], {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            EMOSTREAM_BUS: 'memory',
            EMOSTREAM_OPS_PORT: String(port),
            EMOSTREAM_OPS_HOST: '127.0.0.1',
            EMOSTREAM_MODEL_WARM_UP: 'false',
            EMOSTREAM_TOPIC_PREFIX: `metrics-${stage}`,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        children.push(child);
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const ready = async () => {
          if (child.exitCode !== null) throw new Error(`emo serve ${stage} exited with ${child.exitCode}:\n${output.slice(-2000)}`);
          return fetch(`http://127.0.0.1:${port}/readyz`).then(
            (r) => r.ok,
            () => false,
          );
        };
        await waitFor(ready, {
          timeoutMs: 120_000,
          intervalMs: 200,
          message: () => `emo serve ${stage} to be ready:\n${output.slice(-2000)}`,
        });
        const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const names = new Set([...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]!));
        perStage.set(stage, names);
        for (const name of names) families.add(name);
      }),
    );
  });

  after(async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill('SIGTERM');
        await once(child, 'exit');
      }),
    );
  });

  it('every stage reports itself ready in its own metric once /readyz says so', () => {
    for (const stage of STAGES)
      assert.ok(perStage.get(stage)?.has(`emostream_${stage}_ready`), `emostream_${stage}_ready missing from ${stage}'s /metrics`);
  });

  it('every metric named by a dashboard panel or an alert rule is exported by a running stage', () => {
    const expressions = shippedExpressions();
    assert.ok(expressions.length >= 20, `only ${expressions.length} expressions found`);
    const missing: string[] = [];
    let checked = 0;
    for (const { where, expr } of expressions) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where}: no metric found in ${expr}`);
      for (const name of names) {
        checked++;
        if (name in EXTERNAL_METRICS) continue;
        if (!familyOf(name, families)) missing.push(`${where}: ${name}`);
      }
    }
    assert.deepEqual(missing, [], 'metrics that no stage exports');
    assert.ok(checked >= 40);
  });

  it('the name check fails on a metric no stage exports (it is not vacuous)', () => {
    assert.deepEqual(metricNames('sum(rate(emostream_face_frames_dropped_total{outcome="x"}[5m])) / sum(emostream_face_ready)'), [
      'emostream_face_frames_dropped_total',
      'emostream_face_ready',
    ]);
    assert.equal(familyOf('emostream_face_frames_dropped_total', families), undefined);
    assert.equal(familyOf('emostream_sink_end_to_end_seconds_bucket', families), 'emostream_sink_end_to_end_seconds');
  });
});
