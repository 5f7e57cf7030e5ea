// Everything Tern relies on inside mqemitter (and the qlobber it matches with), in one place
// (test/unit/internals.test.ts pins it).
// The message router aedes runs on (mqemitter), with its drain recursion broken.
//
// mqemitter 7 queues messages beyond `concurrency` and, when a delivery completes, starts the next
// queued one from inside that completion. A message with no listener completes synchronously, so
// a long queue of them (a slow subscriber leaving during a QoS 0 flood) drains on one stack until
// RangeError: Maximum call stack size exceeded kills the process (mcollina/mqemitter#204).
// Here every 64th nested start is moved to the next turn of the event loop.
//
// Its queue is two arrays used as FIFOs (push, shift). V8 shifts an array in O(1) by moving the
// start of its backing store, except for a store in the large-object space (over 128 KB: ~16,000
// elements), which it copies instead. A sustained QoS 1 flood keeps 5,000-12,000+ messages
// queued (aedes acknowledges a QoS 1 PUBLISH before routing it), so once the arrays grew past
// that size each delivery copied both: throughput fell to a quarter after ~15 s of qos1-pairs,
// for Tern and plain aedes alike (cpu-prof: 67% in mqemitter's `released`). Here the two queues
// are ring buffers (Fifo), O(1) at any length.
import mqemitter, { type MQEmitter } from 'mqemitter';

const MAX_NESTED_STARTS = 64;

interface Internals {
  _do(message: unknown, callback: (err?: Error) => void): unknown;
  /** what mqemitter queues beyond `concurrency`, in order; it uses push, shift and length only */
  _messageQueue: Queue<unknown>;
  _messageCallbacks: Queue<(err?: Error) => void>;
}

interface Queue<T> {
  push(item: T): number;
  shift(): T | undefined;
  readonly length: number;
}

/** A first-in first-out queue with an array's push/shift/length, O(1) at any length: a ring buffer that doubles when full (its size a power of two). */
export class Fifo<T> implements Queue<T> {
  #ring: (T | undefined)[] = new Array<T | undefined>(16).fill(undefined);
  #head = 0;
  #size = 0;

  get length(): number {
    return this.#size;
  }

  push(item: T): number {
    const ring = this.#ring;
    if (this.#size === ring.length) {
      // unroll into a ring twice the size, oldest first
      const bigger = new Array<T | undefined>(ring.length * 2).fill(undefined);
      for (let i = 0; i < this.#size; i++) bigger[i] = ring[(this.#head + i) & (ring.length - 1)];
      this.#ring = bigger;
      this.#head = 0;
    }
    this.#ring[(this.#head + this.#size) & (this.#ring.length - 1)] = item;
    return ++this.#size;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const ring = this.#ring;
    const item = ring[this.#head];
    ring[this.#head] = undefined; // let it go
    this.#head = (this.#head + 1) & (ring.length - 1);
    this.#size--;
    return item;
  }
}

export function createMessageRouter(concurrency: number): MQEmitter {
  // matchEmptyLevels as aedes sets it itself [MQTT-4.7.1-3]
  const mq = mqemitter({ concurrency, matchEmptyLevels: true });
  const internals = mq as unknown as Internals;
  internals._messageQueue = new Fifo();
  internals._messageCallbacks = new Fifo();
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

/** qlobber's trie (mqemitter's _matcher): a word to the filters going on with it; the separator ends a filter */
type Trie = Map<string, Trie | unknown[]>;
interface Matcher {
  _trie: Trie;
  _separator: string;
  _wildcard_one: string;
  _wildcard_some: string;
}

/**
 * Whether a live subscription could match some topic that starts with the levels `words` and has
 * more levels after them. False is exact: no topic under that prefix has a subscriber, and none
 * needs to be built and matched to find that out (a few Map lookups instead of a split and a
 * match). True may still find no subscriber for a particular topic.
 */
export function mayHaveLiveSubscriberUnder(mq: unknown, words: readonly string[]): boolean {
  const m = (mq as { _matcher: Matcher })._matcher;
  return underTrie(m, m._trie, words, 0);
}

function underTrie(m: Matcher, trie: Trie, words: readonly string[], i: number): boolean {
  if (trie.has(m._wildcard_some)) return true;
  // a filter ending right here (the separator) matches no longer topic
  if (i === words.length) return trie.size > (trie.has(m._separator) ? 1 : 0);
  const exact = trie.get(words[i]!);
  if (exact instanceof Map && underTrie(m, exact, words, i + 1)) return true;
  const one = trie.get(m._wildcard_one);
  return one instanceof Map && underTrie(m, one, words, i + 1);
}
