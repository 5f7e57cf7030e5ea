// Plain aedes 1.2 for comparison: in-memory persistence, default options, nothing else.
// Usage: node --import tsx test/bench/aedes-server.ts <port>
import net from 'node:net';
import { Aedes } from 'aedes';

const port = Number(process.argv[2] ?? 0);
const broker = await Aedes.createBroker();
const server = net.createServer(broker.handle);
server.listen(port, '127.0.0.1', () => {
  const addr = server.address() as net.AddressInfo;
  process.stdout.write(JSON.stringify({ listening: addr.port }) + '\n');
});

function stop(): void {
  server.close();
  broker.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
