import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';

/** Where the kernel tells a process its cgroups; tests point these at a made-up tree. */
export interface CgroupPaths {
  /** The cgroup file system's mount point. */
  root: string;
  /** The process's cgroup list (`/proc/self/cgroup`). */
  selfCgroup: string;
}

const SYSTEM: CgroupPaths = { root: '/sys/fs/cgroup', selfCgroup: '/proc/self/cgroup' };

/**
 * The CPUs this process may use: the cores it may run on (os.availableParallelism, which follows its
 * affinity), capped by its cgroup's CPU quota rounded up. Node's count and onnxruntime's default
 * thread count both ignore the quota: a pod limited to 2 CPUs on a 64-core node would otherwise
 * start 64 threads per operator and spend its quota waiting on the slowest.
 */
export function usableCpus(paths: CgroupPaths = SYSTEM, cores = availableParallelism()): number {
  const quota = paths === SYSTEM ? (systemQuota ??= { cpus: cgroupCpuQuota(SYSTEM) }).cpus : cgroupCpuQuota(paths);
  return Math.max(1, quota === undefined ? cores : Math.min(cores, Math.ceil(quota)));
}
/** This process's quota, read once: each model session and the video ask, and it does not change. */
let systemQuota: { cpus: number | undefined } | undefined;

/**
 * The CPU quota of the process's cgroup in CPUs (cgroup v2 `cpu.max`, or v1 `cpu.cfs_quota_us` over
 * `cpu.cfs_period_us`), undefined when there is none or it cannot be read. A container usually sees
 * its own cgroup at the mount point itself; otherwise it is found under its path from `selfCgroup`.
 */
export function cgroupCpuQuota(paths: CgroupPaths = SYSTEM): number | undefined {
  let lines: string[];
  try {
    lines = readFileSync(paths.selfCgroup, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const v1 = lines.map((l) => l.split(':')).find(([, controllers]) => controllers?.split(',').includes('cpu'));
  if (v1) {
    const own = v1.slice(2).join(':');
    for (const mount of ['cpu,cpuacct', 'cpu', 'cpuacct,cpu']) {
      for (const dir of [path.join(paths.root, mount, own), path.join(paths.root, mount)]) {
        const quota = readNumber(path.join(dir, 'cpu.cfs_quota_us'));
        const period = readNumber(path.join(dir, 'cpu.cfs_period_us'));
        if (quota !== undefined && period) return quota > 0 ? quota / period : undefined;
      }
    }
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (v2) {
    for (const dir of [path.join(paths.root, v2.slice(3)), paths.root]) {
      const max = readText(path.join(dir, 'cpu.max'));
      if (max === undefined) continue;
      const [quota, period] = max.trim().split(/\s+/);
      return quota === 'max' || !Number(period) ? undefined : Number(quota) / Number(period);
    }
  }
  return undefined;
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readNumber(file: string): number | undefined {
  const text = readText(file);
  const value = text === undefined ? NaN : Number(text.trim());
  return Number.isFinite(value) ? value : undefined;
}
