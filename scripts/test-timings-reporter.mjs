// A node:test reporter that writes one JSON line per test file: its path and how long it ran.
// scripts/test-lanes.mjs reads these lines to print the slowest files at the end of each run.
// Each line is written as soon as its file ends: with --test-force-exit the runner may exit before a
// reporter's last words.
export default async function* testFileTimings(source) {
  const measured = new Set();
  const summed = new Map(); // file → ms, its top-level tests added up: the fallback where the runner reports no file
  for await (const event of source) {
    if (event.type !== 'test:complete' || event.data.nesting !== 0 || !event.data.file) continue;
    const { file, name, details } = event.data;
    if (name === file) {
      // With one process per file, the runner reports each file as a top-level test named by its
      // path: the file's process from start to end, load time included.
      measured.add(file);
      yield `${JSON.stringify({ file, ms: Math.round(details.duration_ms), whole: true })}\n`;
    } else {
      summed.set(file, (summed.get(file) ?? 0) + details.duration_ms);
    }
  }
  for (const [file, ms] of summed) {
    if (!measured.has(file)) yield `${JSON.stringify({ file, ms: Math.round(ms), whole: false })}\n`;
  }
}
