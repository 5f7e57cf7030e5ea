/**
 * The time of a message's routing, read once per routing: a message's deliveries and its
 * message.publish share one clock read. aedes hands each subscriber's authorizeForward its
 * routed copy of the PUBLISH and published the original, so the two are known by what they
 * share, the payload Buffer. It holds the last payload only, and forgets it when a routing ends
 * (published), before the retained messages of a SUBSCRIBE and before the queued messages of a
 * CONNECT (stored messages, delivered again to each subscriber or session); so a time is shared
 * only within one routing, never by a later one.
 *
 * The routings of one turn of the event loop share a clock read too, up to SHARED_READS of them:
 * a flood routes hundreds of messages a turn, and a clock read per message was ~2% of a QoS 0
 * message's cost in the broker with a bus listener (~110 ns in the CPU profile; ~40 ns alone).
 * A routing's time is therefore the time of the first of up to SHARED_READS routings before it
 * in its turn: early by what those routings took (a few hundred µs under a flood, where a QoS 0
 * message costs ~5 µs; more if a GC pause falls among them), exact when messages come one a turn.
 */
export const SHARED_READS = 64;

export class RoutingClock {
  #key: unknown = null;
  #ts = 0;
  /** the turn's clock read, or -1 once the turn has ended */
  #turnTs = -1;
  /** routings that used #turnTs */
  #uses = 0;
  readonly #now: () => number;
  readonly #defer: (fn: () => void) => void;
  readonly #endTurn = (): void => {
    this.#turnTs = -1;
  };

  /** `defer` runs its function once the current turn of the event loop is over */
  constructor(now: () => number = Date.now, defer: (fn: () => void) => void = setImmediate) {
    this.#now = now;
    this.#defer = defer;
  }

  of(key: unknown): number {
    if (key !== this.#key) {
      this.#key = key;
      this.#ts = this.#read();
    }
    return this.#ts;
  }

  reset(): void {
    this.#key = null;
  }

  #read(): number {
    if (this.#turnTs < 0) {
      this.#defer(this.#endTurn);
    } else if (this.#uses < SHARED_READS) {
      this.#uses++;
      return this.#turnTs;
    }
    this.#turnTs = this.#now();
    this.#uses = 1;
    return this.#turnTs;
  }
}
