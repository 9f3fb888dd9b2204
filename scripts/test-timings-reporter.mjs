// A node:test reporter that writes one JSON line per test file: its path and how long it ran.
// scripts/test.mjs reads these lines to print the slowest files at the end of each run.
export default async function* testFileTimings(source) {
  const measured = new Map(); // file → ms, the runner's own measure of the file's process (load time included)
  const summed = new Map(); // file → ms, its top-level tests added up: the fallback where the runner reports no file
  for await (const event of source) {
    if (event.type !== 'test:complete' || event.data.nesting !== 0 || !event.data.file) continue;
    const { file, name, details } = event.data;
    // With one process per file, the runner reports each file as a top-level test named by its path.
    if (name === file) measured.set(file, details.duration_ms);
    else summed.set(file, (summed.get(file) ?? 0) + details.duration_ms);
  }
  for (const file of new Set([...measured.keys(), ...summed.keys()])) {
    const ms = measured.get(file) ?? summed.get(file);
    yield `${JSON.stringify({ file, ms: Math.round(ms), whole: measured.has(file) })}\n`;
  }
}
