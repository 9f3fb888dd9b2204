import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { cgroupCpuQuota, usableCpus } from '../src/index.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A made-up cgroup tree: `files` relative to the mount point, and the process's cgroup list. */
function tree(selfCgroup: string, files: Record<string, string>) {
  const root = mkdtempSync(path.join(tmpdir(), 'cgroup-'));
  dirs.push(root);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, 'fs', file)), { recursive: true });
    writeFileSync(path.join(root, 'fs', file), text);
  }
  writeFileSync(path.join(root, 'self'), selfCgroup);
  return { root: path.join(root, 'fs'), selfCgroup: path.join(root, 'self') };
}

describe('usableCpus (cores capped by a CPU quota)', () => {
  it("reads a cgroup v2 container's cpu.max at the mount point, rounding a part CPU up", () => {
    const paths = tree('0::/\n', { 'cpu.max': '150000 100000\n' });
    assert.equal(cgroupCpuQuota(paths), 1.5);
    assert.equal(usableCpus(paths, 64), 2);
    assert.equal(usableCpus(paths, 1), 1, 'never more than the cores');
  });

  it("reads a cgroup v2 process's own cgroup under the mount point; 'max' is no quota", () => {
    const limited = tree('0::/kubepods/pod1/c1\n', { 'kubepods/pod1/c1/cpu.max': '200000 100000\n', 'cpu.max': 'max 100000\n' });
    assert.equal(usableCpus(limited, 64), 2);
    assert.equal(usableCpus(tree('0::/\n', { 'cpu.max': 'max 100000\n' }), 64), 64);
  });

  it('reads cgroup v1 cfs quota and period (a hybrid host lists v1 controllers and 0::); -1 is no quota', () => {
    const self = '4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n0::/\n';
    const limited = tree(self, {
      'cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '200000\n',
      'cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    });
    assert.equal(usableCpus(limited, 16), 2);
    const atMount = tree(self, { 'cpu,cpuacct/cpu.cfs_quota_us': '50000\n', 'cpu,cpuacct/cpu.cfs_period_us': '100000\n' });
    assert.equal(usableCpus(atMount, 16), 1, 'a container that sees its own cgroup at the mount point; half a CPU is still one');
    const none = tree('1:cpu:/\n', { 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' });
    assert.equal(cgroupCpuQuota(none), undefined);
    assert.equal(usableCpus(none, 16), 16);
  });

  it('counts the cores when the cgroups cannot be read', () => {
    assert.equal(usableCpus({ root: '/nonexistent', selfCgroup: '/nonexistent/cgroup' }, 8), 8);
    assert.ok(usableCpus() >= 1);
  });
});
