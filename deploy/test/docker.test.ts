/**
 * The Dockerfiles, parsed with dockerfile-ast and checked for what the manifests rely on. The CPU image
 * is also built and run, as the manifests run it, by `npm run test:containers`
 * (scripts/containers/containers.test.ts, in CI); the CUDA image needs NuGet and a GPU and is not.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { SERVICE_NODE_FLAGS } from '@emostream/shared';
import { DEPLOY_DIR } from '../lib/paths.js';
import { renderOverlay } from '../lib/render.js';

function stages(file: string): { from: string; instructions: Instruction[] }[] {
  const dockerfile = DockerfileParser.parse(readFileSync(path.join(DEPLOY_DIR, 'docker', file), 'utf8'));
  const result: { from: string; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') result.push({ from: instruction.getArgumentsContent() ?? '', instructions: [] });
    else result.at(-1)?.instructions.push(instruction);
  }
  return result;
}
const text = (instructions: Instruction[], keyword: string) =>
  instructions.filter((i) => i.getKeyword() === keyword).map((i) => i.getArgumentsContent() ?? '');

const manifestUser = (() => {
  const backbone = renderOverlay('gpu').find((o) => o.kind === 'Deployment' && o.metadata.name === 'emostream-backbone') as unknown as {
    spec: { template: { spec: { securityContext: { runAsUser: number } } } };
  };
  return backbone.spec.template.spec.securityContext.runAsUser;
})();

for (const file of ['Dockerfile', 'Dockerfile.cuda']) {
  describe(`deploy/docker/${file}`, () => {
    const all = stages(file);
    const final = all.at(-1)!;

    it('is multi-stage: installs and builds in one stage, runs from a fresh one', () => {
      assert.ok(all.length >= 2, 'at least two FROM');
      assert.match(final.instructions.map((i) => i.getTextContent()).join('\n'), /COPY --from=build/);
      assert.ok(
        all.some((s) => text(s.instructions, 'RUN').some((r) => /npm ci\b/.test(r))),
        'npm ci in a build stage',
      );
    });

    it("builds offline: no frontend image to pull, and npm ci never runs onnxruntime-node's download", () => {
      const source = readFileSync(path.join(DEPLOY_DIR, 'docker', file), 'utf8');
      assert.doesNotMatch(source, /^#\s*syntax=/m, 'a syntax directive makes BuildKit pull a frontend image');
      const build = all.find((s) => text(s.instructions, 'RUN').some((r) => /npm ci\b/.test(r)))!;
      const before = build.instructions.slice(
        0,
        build.instructions.findIndex((i) => /npm ci\b/.test(i.getArgumentsContent() ?? '')),
      );
      assert.ok(
        text(before, 'ENV').some((e) => /\bONNXRUNTIME_NODE_INSTALL=skip\b/.test(e)),
        "ONNXRUNTIME_NODE_INSTALL=skip before npm ci (Node 20's npm runs install scripts whatever allowScripts says)",
      );
      const downloads = source.match(/onnxruntime-node\/script\/install\.js/g) ?? [];
      assert.equal(downloads.length, file === 'Dockerfile.cuda' ? 1 : 0, 'the CUDA provider is fetched once, by the CUDA image only');
    });

    it('runs as the non-root user the manifests require', () => {
      const users = text(final.instructions, 'USER');
      assert.equal(users.length, 1, 'one USER in the runtime stage');
      const uid = users[0]!.split(':')[0]!;
      assert.match(uid, /^\d+$/, 'a numeric uid (runAsNonRoot can only verify numbers)');
      assert.notEqual(Number(uid), 0);
      assert.equal(Number(uid), manifestUser, 'the uid the Deployments set as runAsUser');
    });

    it('ships ffmpeg, the default model pack and the emo entry point', () => {
      assert.ok(
        text(final.instructions, 'RUN').some((r) => /apt-get install[^&]*\bffmpeg\b/.test(r)),
        'ffmpeg installed in the runtime stage',
      );
      assert.ok(
        all.some((s) => text(s.instructions, 'RUN').some((r) => /npm run models\b/.test(r))),
        'npm run models builds the default pack',
      );
      assert.ok(
        all.some((s) => text(s.instructions, 'RUN').some((r) => /npm run build\b[\s\S]*npm prune/.test(r))),
        'the image runs compiled JS: npm run build, before the compiler is pruned with the dev dependencies',
      );
      const entrypoint = JSON.parse(text(final.instructions, 'ENTRYPOINT').join()) as string[];
      assert.deepEqual(
        entrypoint,
        ['/usr/bin/tini', '--', 'node', ...SERVICE_NODE_FLAGS, '/app/cli/bin/emo.mjs'],
        "emo under the services' node flags",
      );
      assert.match(text(final.instructions, 'ENV').join(' '), /EMOSTREAM_MODELS_DIR=\/app\/models/);
    });
  });
}

describe('deploy/docker/Dockerfile.cuda', () => {
  it("installs onnxruntime-node's CUDA 12 execution provider at build time and runs on a CUDA base", () => {
    const all = stages('Dockerfile.cuda');
    const build = all.find((s) => text(s.instructions, 'RUN').some((r) => /npm ci\b/.test(r)))!;
    // package.json's allowScripts keeps npm from running onnxruntime-node's install script, so the image runs it itself, after npm ci.
    const install = text(build.instructions, 'RUN').find((r) => /npm ci\b/.test(r))!;
    assert.match(
      install,
      /npm ci\b[\s\S]*ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js[\s\S]*libonnxruntime_providers_cuda\.so/,
    );
    assert.match(text(all.at(-1)!.instructions, 'ENV').join(' '), /EMOSTREAM_EXECUTION_PROVIDER=cuda/);
    const dockerfile = readFileSync(path.join(DEPLOY_DIR, 'docker', 'Dockerfile.cuda'), 'utf8');
    assert.match(dockerfile, /ARG CUDA_IMAGE=nvidia\/cuda:12\.[\d.]+-cudnn-runtime/);
  });
});
