// Preloaded into the Node brokers (`node --import tsx --import ./memory-probe.ts ...`) so the
// harness can ask for heap figures over the IPC channel of `fork`/`spawn(..., 'ipc')` without the
// broker's own code knowing about benchmarks. With --expose-gc it collects garbage first, so
// before/after figures compare live data rather than GC timing.

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
    process.send?.({ type: 'memory', id: m.id, gcRan: Boolean(m.gc && gc), ...process.memoryUsage() });
  });
  // the channel must not keep a broker alive that wants to exit
  process.channel?.unref();
}
