// Tern exactly as server/main.ts runs it (server/node.ts), plus a listener on the event bus for
// message.publish and message.delivered that only counts: what the bus costs when someone listens
// (the benchmark of issue 9 compares it with plain Tern in the same run, and with itself, the
// listener switched off and on between the windows of one flood: scenarios.ts, bus-listener).
// The listener is on from the start; over the bench's IPC channel {type: 'bus-counter', on} turns
// it off or on, and the reply says whether it is on and what it has counted.
import { runNode } from '../../server/node.ts';
import type { Tern } from '../../server/tern.ts';

const counts = { publish: 0, delivered: 0 };
let off: (() => void)[] | null = null;

function listen(tern: Tern, on: boolean): void {
  if (on && !off) {
    // it reads nothing of the event and keeps nothing: it borrows (events.ts, ListenOptions)
    const opts = { borrows: true };
    off = [tern.events.on('message.publish', () => void counts.publish++, opts), tern.events.on('message.delivered', () => void counts.delivered++, opts)];
  } else if (!on && off) {
    for (const fn of off) fn();
    off = null;
  }
}

runNode({
  argv: process.argv.slice(2),
  env: process.env,
  onStarted(tern) {
    listen(tern, true);
    if (!process.send) return;
    process.on('message', (msg: unknown) => {
      const m = msg as { type?: string; id?: number; on?: boolean } | null;
      if (m?.type !== 'bus-counter') return;
      if (typeof m.on === 'boolean') listen(tern, m.on);
      process.send?.({ type: 'bus-counter', id: m.id, on: off !== null, ...counts });
    });
    // the channel must not keep a broker alive that wants to exit
    process.channel?.unref();
  },
});
