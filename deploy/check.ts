/**
 * `npm run deploy:check`: renders every overlay with kustomize and validates every object offline
 * against the Kubernetes, Strimzi, KEDA and Prometheus Operator schemas (deploy/lib/validate.ts).
 * Exits 1 naming each problem. Part of `npm test` (scripts/test.mjs), before the node tests.
 */
import { OVERLAYS } from './lib/paths.js';
import { renderOverlay } from './lib/render.js';
import { validateObjects } from './lib/validate.js';

let failed = false;
for (const overlay of OVERLAYS) {
  const started = Date.now();
  let problems: string[];
  let count = 0;
  try {
    const objects = renderOverlay(overlay);
    count = objects.length;
    problems = await validateObjects(objects);
  } catch (error) {
    problems = [(error as Error).message];
  }
  if (problems.length === 0) {
    console.log(`✔ overlay ${overlay}: ${count} objects valid (${Date.now() - started} ms)`);
  } else {
    failed = true;
    console.error(`✖ overlay ${overlay}: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}
process.exit(failed ? 1 : 0);
