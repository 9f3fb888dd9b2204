import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { DEFAULT_MODELS_DIR, ModelSession } from '../src/index.js';

// The SSD of the default pack (built by `npm run models`, which `npm test` runs first): big enough
// that one batch-2 run takes hundreds of milliseconds on a CPU.
const SSD = path.join(DEFAULT_MODELS_DIR, 'default', 'ssd-mobilenetv1.onnx');
const DIMS = [2, 512, 512, 3];

function image(): Float32Array {
  return new Float32Array(DIMS.reduce((a, b) => a * b, 1)).map((_, i) => (i * 7) % 256);
}

/** Event-loop ticks (1 ms timers that actually fired) while `work` runs. */
async function ticksDuring(work: () => Promise<unknown>): Promise<number> {
  let ticks = 0;
  const timer = setInterval(() => (ticks += 1), 1);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return ticks;
}

test('a model in its own thread gives the same outputs as on the main thread, and the event loop keeps running while it computes', async () => {
  const threaded = await ModelSession.create(SSD, { inferenceThread: true, warmUp: true }, { label: 'ssd (thread)' });
  const inline = await ModelSession.create(SSD, { inferenceThread: false, warmUp: true }, { label: 'ssd (main thread)' });
  try {
    const feeds = { [threaded.inputs[0]!.name]: { data: image(), dims: DIMS } };
    const fromThread = await threaded.run(feeds);
    const fromMain = await inline.run(feeds);
    assert.deepEqual(Object.keys(fromThread).sort(), Object.keys(fromMain).sort());
    for (const name of Object.keys(fromMain)) {
      assert.deepEqual(fromThread[name]!.dims, fromMain[name]!.dims);
      assert.deepEqual(Array.from(fromThread[name]!.data), Array.from(fromMain[name]!.data), `output ${name} differs`);
    }

    const whileThreaded = await ticksDuring(() => threaded.run(feeds));
    const whileInline = await ticksDuring(() => inline.run(feeds));
    // On the main thread the run blocks the loop (a tick or two at its edges); in a thread, timers keep firing.
    assert.ok(whileInline <= 3, `the main-thread run let ${whileInline} ticks through: it should block the event loop`);
    assert.ok(whileThreaded >= 10, `only ${whileThreaded} ticks while the model ran in its thread: the event loop was blocked`);
  } finally {
    await threaded.release();
    await inline.release();
  }
});

test('inputs handed over with transferInputs are detached here; a failing run names the model and the thread stays usable', async () => {
  const session = await ModelSession.create(SSD, { inferenceThread: true, warmUp: false }, { label: 'ssd (thread)' });
  try {
    const name = session.inputs[0]!.name;
    const data = image();
    await session.run({ [name]: { data, dims: DIMS } }, { transferInputs: true });
    assert.equal(data.length, 0, 'a transferred input is detached (length 0) on the calling thread');

    const copied = image();
    await session.run({ [name]: { data: copied, dims: DIMS } });
    assert.equal(
      copied.length,
      DIMS.reduce((a, b) => a * b, 1),
      'without transferInputs the caller keeps its array',
    );

    // A wrong element count passes the shape check but fails inside onnxruntime, in the thread.
    await assert.rejects(session.run({ [name]: { data: new Float32Array(5), dims: DIMS } }), /model ssd \(thread\): run failed/);
    const again = await session.run({ [name]: { data: image(), dims: DIMS } });
    assert.ok(Object.keys(again).length > 0);
  } finally {
    await session.release();
  }
});
