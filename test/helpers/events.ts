// Waiting on what the broker tells, instead of polling its state on a timer. Start recording
// before the action that causes the events (they can fire before the action's promise settles),
// then wait for as many as the test expects. The timeout only turns a missing event into a clear
// failure.
import type { Tern } from '../../server/tern.ts';
import type { EventBus, TernEventName, TernEvents } from '../../server/broker/events.ts';

export interface Recorded<T> {
  /** every matching event since recording started */
  readonly seen: readonly T[];
  /** resolves once `n` matching events have been seen in all (at once if they already were) */
  wait(n: number, what: string, timeoutMs?: number): Promise<readonly T[]>;
  stop(): void;
}

function recorder<T>(subscribe: (push: (v: T) => void) => () => void): Recorded<T> {
  const seen: T[] = [];
  const waiters = new Set<() => void>();
  const stop = subscribe((v) => {
    seen.push(v);
    for (const w of [...waiters]) w();
  });
  return {
    seen,
    wait(n, what, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (seen.length < n) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(seen);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}: ${seen.length}/${n} seen`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop,
  };
}

/**
 * Resolves once Date.now() has passed `ms`: for a test whose check splits events by millisecond
 * (a condition on the clock, re-checked each turn of the event loop, not a sleep).
 */
export async function clockPast(ms: number): Promise<void> {
  while (Date.now() <= ms) await new Promise((resolve) => setImmediate(resolve));
}

/** Tern's event bus: the `name` events that match, from now on. */
export function busEvents<K extends TernEventName>(bus: EventBus, name: K, match: (e: TernEvents[K]) => boolean = () => true): Recorded<TernEvents[K]> {
  return recorder((push) => bus.on(name, (e) => match(e) && push(e)));
}

/**
 * The same, from a listener that borrows (events.ts, ListenOptions.borrows): it records what
 * `read` takes of each event during its call, as a broker's own borrowing consumer would.
 */
export function borrowedBusEvents<K extends TernEventName, T>(bus: EventBus, name: K, read: (e: TernEvents[K]) => T, match: (e: TernEvents[K]) => boolean = () => true): Recorded<T> {
  return recorder((push) => bus.on(name, (e) => match(e) && push(read(e)), { borrows: true }));
}

type Listener = (...args: never[]) => void;
interface Emitter {
  on(name: string, fn: Listener): unknown;
  off(name: string, fn: Listener): unknown;
}

/** A Node emitter's `name` events that match, as their argument lists (e.g. aedes' 'ack'). */
export function emitterEvents<A extends unknown[]>(emitter: Emitter, name: string, match: (...args: A) => boolean = () => true): Recorded<A> {
  return recorder((push) => {
    const fn = (...args: A) => {
      if (match(...args)) push(args);
    };
    emitter.on(name, fn as unknown as Listener);
    return () => emitter.off(name, fn as unknown as Listener);
  });
}

/** Resolves when Tern has processed the disconnect of `clientId` (client.disconnected). Call it
 *  before the client goes. */
export function disconnectOf(tern: Tern, clientId: string, timeoutMs?: number): Promise<void> {
  const r = busEvents(tern.events, 'client.disconnected', (e) => e.clientid === clientId);
  return r.wait(1, `the disconnect of ${clientId}`, timeoutMs).then(
    () => r.stop(),
    (err) => {
      r.stop();
      throw err;
    },
  );
}

/** aedes' 'ack' events of one client: emitted once a PUBACK or PUBCOMP has cleared its entry. */
export function acksOf(tern: Tern, clientId: string): Recorded<unknown[]> {
  return emitterEvents(tern.aedes as unknown as Emitter, 'ack', (_packet: unknown, client: { id: string } | null) => client?.id === clientId);
}

/**
 * Resolves with the first truthy value of `check`, re-checked after every webhook delivery attempt
 * (the delivery worker's own notification): for state only the API shows, such as a hook's stats.
 */
export async function afterAttempts<T>(hooks: { onAttempt(fn: () => void): () => void }, check: () => Promise<T | false | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  let attempts = 0;
  let wake: (() => void) | null = null;
  const off = hooks.onAttempt(() => {
    attempts++;
    wake?.();
  });
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const seen = attempts;
      const v = await check();
      if (v) return v;
      if (attempts !== seen) continue; // an attempt finished while checking: look again
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), left);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve();
        };
      });
    }
  } finally {
    off();
  }
}
