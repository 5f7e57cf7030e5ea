// Coalesces the writes a connection receives during one event-loop turn into a single writev.
//
// aedes writes every packet on its own (mqtt-packet corks a socket only until the next tick, and
// aedes continues each packet through setImmediate), and Tern's TCP listeners set TCP_NODELAY as
// EMQX does, so each packet cost a syscall and a TCP segment of its own. Under load that per-packet
// kernel work was the largest single cost in the profile (writev ≈ 30% of the broker's CPU). Here
// a connection is corked at its first write in a turn and uncorked by one setImmediate for all
// connections, which runs in the same turn's check phase: the batch goes out before the turn
// ends, so latency grows by microseconds, not by a timer.
//
// Ordering: the flush is queued at the first write, before aedes queues that write's completion
// callback (also setImmediate), so data written before aedes closes a connection is on its way
// before the close. Backpressure is unchanged: write() still returns false past the stream's
// highWaterMark and 'drain' follows the flush.
import { Writable } from 'node:stream';
import { hideCorkFromPacketWriter } from '../core/internals/mqtt-packet.ts';

export interface WriteBatcher {
  /** route this stream's writes through the batcher (for its lifetime) */
  attach(stream: Writable): void;
  /** streams corked right now (for tests) */
  pending(): number;
}

type WriteFn = (this: Writable, ...args: unknown[]) => boolean;
const streamWrite = Writable.prototype.write as WriteFn;
const streamCork = Writable.prototype.cork;

export function createWriteBatcher(): WriteBatcher {
  const corked = new Set<Writable>();
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    // uncork may write synchronously and a write may re-cork: iterate over a snapshot
    const streams = [...corked];
    corked.clear();
    for (const s of streams) s.uncork();
  }

  // one function for every attached stream (no closure per connection)
  function batchedWrite(this: Writable, ...args: unknown[]): boolean {
    if (!corked.has(this) && !this.destroyed) {
      streamCork.call(this);
      corked.add(this);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    }
    return streamWrite.apply(this, args);
  }

  return {
    attach(stream) {
      // net, tls and ws streams all write through Writable's own write(); leave any other alone
      if (stream.write !== streamWrite) return;
      (stream as { write: unknown }).write = batchedWrite;
      // this batcher corks for the turn: mqtt-packet's own cork per packet is redundant
      hideCorkFromPacketWriter(stream);
    },
    pending: () => corked.size,
  };
}
