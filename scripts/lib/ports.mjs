// Free loopback ports for the local servers the scripts start (the Kafka broker, the Kubernetes control plane).
import net from 'node:net';

/** Asks the OS for n distinct free loopback ports (all held open at once, so they differ). */
export async function freePorts(n) {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise((resolve, reject) => {
          const srv = net.createServer();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
