// Preloaded into the Node brokers (`node --import tsx --import ./memory-probe.ts ...`) so the
// harness can ask for heap figures over the IPC channel of `fork`/`spawn(..., 'ipc')` without the
// broker's own code knowing about benchmarks. With --expose-gc it collects garbage first, so
// before/after figures compare live data rather than GC timing. `youngBytes` is what V8's young
// generation holds in memory: it is sized by the recent rate of allocation, not by what the
// process keeps (after a connect burst it stays at its 32 MB maximum until V8's memory reducer
// shrinks it, seconds later or not at all), so an RSS figure per connection leaves it out.
import v8 from 'node:v8';

const YOUNG = new Set(['new_space', 'new_large_object_space']);

interface MemoryRequest {
  type: 'memory';
  id: number;
  gc?: boolean;
}

if (process.send) {
  process.on('message', (msg: unknown) => {
    const m = msg as Partial<MemoryRequest> | null;
    if (!m || m.type !== 'memory') return;
    const gc = (globalThis as { gc?: () => void }).gc;
    if (m.gc && gc) {
      gc();
      gc();
    }
    let youngBytes = 0;
    for (const space of v8.getHeapSpaceStatistics()) if (YOUNG.has(space.space_name)) youngBytes += space.physical_space_size;
    process.send?.({ type: 'memory', id: m.id, gcRan: Boolean(m.gc && gc), youngBytes, ...process.memoryUsage() });
  });
  // the channel must not keep a broker alive that wants to exit
  process.channel?.unref();
}
