// Free loopback ports for the local servers the scripts start (the Kafka broker, the Kubernetes control plane).
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The start of the kernel's ephemeral (client) port range: Linux's setting, else the IANA range. Ports
 * are picked below it: one from the range (listen(0)) can be taken by any client socket's local end
 * while its server is down (a broker killed and restarted on the same port) or before it listens.
 */
function ephemeralStart() {
  try {
    const [start] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (start > 10_100) return start;
  } catch {
    // not Linux
  }
  return 49_152;
}

/** Binds a random loopback port below the ephemeral range; resolves the server holding it. */
async function holdPort() {
  const top = ephemeralStart();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    const srv = net.createServer();
    const bound = await new Promise((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return srv;
  }
  throw new Error(`no free loopback port between 10000 and ${top} after 200 tries`);
}

/** n distinct free loopback ports (all held open at once, so they differ). */
export async function freePorts(n) {
  const servers = [];
  for (let i = 0; i < n; i++) servers.push(await holdPort());
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
