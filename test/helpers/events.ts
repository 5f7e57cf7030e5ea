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

/** Tern's event bus: the `name` events that match, from now on. */
export function busEvents<K extends TernEventName>(bus: EventBus, name: K, match: (e: TernEvents[K]) => boolean = () => true): Recorded<TernEvents[K]> {
  return recorder((push) => bus.on(name, (e) => match(e) && push(e)));
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
