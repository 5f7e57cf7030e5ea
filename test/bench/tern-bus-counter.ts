// Tern exactly as server/main.ts runs it (server/node.ts), plus a listener on the event bus for
// message.publish and message.delivered that only counts: what the bus costs when someone listens
// (the benchmark of issue 9 compares it with plain Tern in the same run).
import { runNode } from '../../server/node.ts';

const counts = { publish: 0, delivered: 0 };
runNode({
  argv: process.argv.slice(2),
  env: process.env,
  onStarted(tern) {
    tern.events.on('message.publish', () => void counts.publish++);
    tern.events.on('message.delivered', () => void counts.delivered++);
  },
});
