// Everything Tern relies on inside mqemitter, in one place (test/unit/internals.test.ts pins it).
// The message router aedes runs on (mqemitter), with its drain recursion broken.
//
// mqemitter 7 queues messages beyond `concurrency` and, when a delivery completes, starts the next
// queued one from inside that completion. A message with no listener completes synchronously, so
// a long queue of them (a slow subscriber leaving during a QoS 0 flood) drains on one stack until
// RangeError: Maximum call stack size exceeded kills the process (mcollina/mqemitter#204).
// Here every 64th nested start is moved to the next turn of the event loop.
import mqemitter, { type MQEmitter } from 'mqemitter';

const MAX_NESTED_STARTS = 64;

interface Internals {
  _do(message: unknown, callback: (err?: Error) => void): unknown;
}

export function createMessageRouter(concurrency: number): MQEmitter {
  // matchEmptyLevels as aedes sets it itself [MQTT-4.7.1-3]
  const mq = mqemitter({ concurrency, matchEmptyLevels: true });
  const internals = mq as unknown as Internals;
  const start = internals._do;
  let depth = 0;
  internals._do = function boundedDo(message, callback) {
    if (depth >= MAX_NESTED_STARTS) {
      setImmediate(() => start.call(mq, message, callback));
      return mq;
    }
    depth++;
    try {
      return start.call(mq, message, callback);
    } finally {
      depth--;
    }
  };
  return mq;
}

/** Whether a subscription of a connected client (or of the broker itself) matches the topic. */
export function hasLiveSubscriber(mq: unknown, topic: string): boolean {
  // mqemitter keeps its qlobber as _matcher; aedes subscribes every live subscription there
  return (mq as { _matcher: { match(topic: string): unknown[] } })._matcher.match(topic).length > 0;
}
