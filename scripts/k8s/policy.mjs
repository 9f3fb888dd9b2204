// NetworkPolicies enforced on the real node of node.mjs: kube-router (built from the Go module
// proxy, scripts/k8s/build.mjs ensureKubeRouter) with only its firewall running — no routing (the
// node's bridge plugin does that), no service proxy, not its CNI. It watches pods, namespaces and
// NetworkPolicies and programs iptables and ipsets for the pods of its node: chains KUBE-ROUTER-INPUT,
// -FORWARD and -OUTPUT jumped to from INPUT, FORWARD and OUTPUT, per-pod and per-policy chains, and
// ipsets of pod addresses. stop() ends it and removes them: `kube-router --cleanup-config` (v2.1.0)
// leaves its network-policy chains and ipsets in place and then panics in its service-proxy cleanup
// (nil pointer in deleteHairpinIptablesRules), so they are removed here by name.
// Pod-to-pod traffic on the bridge passes iptables only with net.bridge.bridge-nf-call-iptables=1
// (br_netfilter): set if it was not, and put back at stop().
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ensureKubeRouter } from './build.mjs';
import { startProcess } from './cluster.mjs';
import { NODE_NAME } from './node.mjs';

const BRIDGE_NF = '/proc/sys/net/bridge/bridge-nf-call-iptables';

export async function startPolicyAgent(cluster) {
  const bin = path.join(ensureKubeRouter(), 'kube-router');
  if (!fs.existsSync(BRIDGE_NF))
    throw new Error(`${BRIDGE_NF} is missing: the br_netfilter module is needed for policies between pods of one bridge`);
  const bridgeNfBefore = fs.readFileSync(BRIDGE_NF, 'utf8').trim();
  if (bridgeNfBefore !== '1') fs.writeFileSync(BRIDGE_NF, '1');
  const agent = startProcess(
    'kube-router',
    bin,
    [
      `--kubeconfig=${cluster.kubeconfig}`,
      `--hostname-override=${NODE_NAME}`,
      '--run-firewall=true',
      '--run-router=false',
      '--run-service-proxy=false',
      '--enable-cni=false',
      // No ports of its own: nothing to collide with on a shared machine.
      '--health-port=0',
      '--metrics-port=0',
      '--v=1',
    ],
    { logDir: cluster.logDir },
  );
  cluster.processes.push(agent);
  const stop = async () => {
    await agent.stop();
    removeKubeRouterRules();
    if (bridgeNfBefore !== '1') fs.writeFileSync(BRIDGE_NF, bridgeNfBefore);
  };
  return { agent, stop };
}

const OWN_CHAIN = /^KUBE-(ROUTER|POD-FW|NWPLCY)-/;
const OWN_IPSET = /^KUBE-(SRC|DST)-/;
const run = (cmd, args) => spawnSync(cmd, args, { encoding: 'utf8' });

/** kube-router's filter-table chains (and the jumps to them from the built-in chains) and its ipsets. */
export function removeKubeRouterRules() {
  for (const builtin of ['INPUT', 'FORWARD', 'OUTPUT']) {
    // Highest rule number first, so the numbers of the rest stay valid.
    const numbers = run('iptables', ['-w', '-L', builtin, '-n', '--line-numbers'])
      .stdout.split('\n')
      .map((l) => l.trim().split(/\s+/))
      .filter(([num, target]) => /^\d+$/.test(num) && OWN_CHAIN.test(target ?? ''))
      .map(([num]) => Number(num))
      .sort((a, b) => b - a);
    for (const n of numbers) run('iptables', ['-w', '-D', builtin, String(n)]);
  }
  const chains = run('iptables', ['-w', '-S'])
    .stdout.split('\n')
    .filter((l) => l.startsWith('-N '))
    .map((l) => l.slice(3).trim())
    .filter((c) => OWN_CHAIN.test(c));
  for (const c of chains) run('iptables', ['-w', '-F', c]);
  for (const c of chains) run('iptables', ['-w', '-X', c]);
  for (const set of run('ipset', ['list', '-n'])
    .stdout?.split('\n')
    .filter((n) => OWN_IPSET.test(n)) ?? [])
    run('ipset', ['destroy', set]);
}
