// Webhooks: persisted hook definitions (registry.ts), each enabled hook's events written to the
// durable outbox (outbox.ts) by listeners on the event bus, and one delivery loop per hook
// (worker.ts) that POSTs them (delivery.ts), all loops on a delivery thread (delivery-thread.ts,
// started by delivery-host.ts with the first enabled hook). Nothing here runs on the broker's
// path but the listeners (pack.ts, appended to the hook's block of the batch: block.ts) and one
// `published` step: a QoS 1/2 message that matches a message.publish hook is routed — and so
// acknowledged (PUBACK, PUBREC) — only after its outbox row is committed. Listeners exist only
// for events some enabled hook wants. Outcomes come back from the thread and are written here
// (the store has one writer).
import type BetterSqlite3 from 'better-sqlite3';
import type { Kysely } from 'kysely';
import type { ConfigSource } from '../config/source.ts';
import type { Database } from '../store/database.ts';
import type { BatchWriter } from '../store/group-commit.ts';
import type { EventBus, TernEvent, TernEventName } from '../broker/events.ts';
import type { HookChain } from '../broker/core/hook-chain.ts';
import { topicMatches } from '../broker/topic.ts';
import { badRequest, notFound } from '../errors.ts';
import { createHookRegistry } from './registry.ts';
import { Outbox } from './outbox.ts';
import type { Outcome } from './worker.ts';
import { HookStats, latencyPercentiles } from './stats.ts';
import { send, type SendResult } from './delivery.ts';
import { DeliveryHost } from './delivery-host.ts';
import { formatEvent, formatRow, messageTopic, sampleEvent } from './format.ts';
import { packMeta, packPayload } from './pack.ts';
import { seedHooks } from './seed.ts';
import type { DeliveryStatus, DeliveryView, Hook, HookInput, HookStatsView } from './types.ts';

export type * from './types.ts';

export interface WebhooksLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WebhooksDeps {
  db: Kysely<Database>;
  sqlite: BetterSqlite3.Database;
  /** the persistence's group commit (sqlite mode) or the store's own (memory mode) */
  writer: BatchWriter;
  events: EventBus;
  chain: HookChain;
  config: ConfigSource;
  logger: WebhooksLogger;
  version: string;
}

export type HookView = Hook & { stats: HookStatsView };

export interface TestResult {
  ok: boolean;
  status: number | null;
  body: string;
  error: string | null;
  duration_ms: number;
  /** what was sent */
  request: unknown;
}

/** What the API uses. */
export interface HookService {
  list(): HookView[];
  get(id: number): HookView;
  create(input: HookInput): Promise<HookView>;
  update(id: number, input: Partial<HookInput>): Promise<HookView>;
  remove(id: number): Promise<void>;
  test(id: number, event?: TernEventName): Promise<TestResult>;
  deliveries(id: number, status: DeliveryStatus, page: number, limit: number): { data: DeliveryView[]; count: number };
  retry(id: number, ids?: number[]): Promise<number>;
  /** sums over all hooks, and the latency percentiles of their recent requests together, for GET /metrics */
  metrics(): Record<string, number>;
  /** called after every delivery attempt of any hook (for whoever waits on deliveries, e.g. tests) */
  onAttempt(fn: (hookId: number) => void): () => void;
}

export interface Webhooks extends HookService {
  /** whether a QoS 1 PUBLISH to `topic` must be routed (and its row committed) before its PUBACK */
  routeBeforePuback(topic: string): boolean;
  /** emqx.conf's web.hook.* (seed.ts) */
  seedFromConfig(): Promise<void>;
  /** stops the delivery thread and the listeners; pending rows stay for the next start */
  close(): Promise<void>;
}

const isSys = (topic: string) => topic.startsWith('$SYS/');

export async function createWebhooks(deps: WebhooksDeps): Promise<Webhooks> {
  const { events, logger } = deps;
  const registry = await createHookRegistry(deps.db);
  const stats = new Map<number, HookStats>();
  /** per hook, the last row id of the request the delivery thread has in flight */
  const inflight = new Map<number, number>();
  const userAgent = `Tern/${deps.version}`;
  let closed = false;
  const attemptListeners = new Set<(hookId: number) => void>();
  const attempted = (hookId: number) => {
    for (const fn of attemptListeners) fn(hookId);
  };

  const statsOf = (id: number) => {
    let s = stats.get(id);
    if (!s) stats.set(id, (s = new HookStats()));
    return s;
  };

  const outbox: Outbox = new Outbox({
    sqlite: deps.sqlite,
    writer: deps.writer,
    max: () => deps.config.get().web_hook.outbox_max,
    inflightMax: (id) => inflight.get(id) ?? 0,
    onDropped: (id, n) => {
      statsOf(id).dropped += n;
    },
    onCommitted: (n) => host.committed(n),
    onRequeued: (id) => host.kick(id),
    counters: (id) => statsOf(id).counters(),
    logger,
  });
  for (const [id, state] of outbox.load(registry.list().map((h) => h.id))) stats.set(id, new HookStats(state));

  const sendFor = (hook: Hook, body: string, stop?: AbortSignal): Promise<SendResult> => send(hook, body, userAgent, stop);

  /** an outcome reported by the delivery thread: recorded, counted, then announced once committed */
  function onOutcome(o: Outcome): void {
    if (closed || !registry.get(o.hookId)) return; // the hook was deleted meanwhile
    const s = statsOf(o.hookId);
    if (inflight.get(o.hookId) === o.last) inflight.delete(o.hookId);
    s.request(o.ms);
    if (o.retry) s.retried += o.n;
    let committed: Promise<void>;
    if (o.ok) {
      s.success(o.n);
      committed = outbox.delivered(o.hookId, o.last, o.n);
    } else {
      s.error(o.error ?? 'failed');
      if (o.dead) {
        s.failed += o.n;
        const hook = registry.get(o.hookId);
        logger.warn({ hook: hook?.name, events: o.n, attempts: o.attempts, error: o.error }, 'webhook delivery failed: dead letter');
        committed = outbox.failed(o.hookId, o.first, o.last, o.n, o.attempts, o.error ?? 'failed');
      } else {
        committed = outbox.attempted(o.hookId, o.first, o.last, o.attempts, o.error ?? 'failed');
      }
    }
    // who waits on deliveries hears once the outcome is committed (the API reads the database)
    if (attemptListeners.size > 0) void committed.then(() => attempted(o.hookId));
  }

  const host = new DeliveryHost({
    init: { file: deps.sqlite.name, userAgent },
    hooks: () => registry.list().filter((h) => h.enabled).map((hook) => ({ hook, cursor: outbox.cursor(hook.id) })),
    node: () => deps.config.get().node.name,
    sending: (hookId, last) => inflight.set(hookId, last),
    outcome: onOutcome,
    logger,
  });

  // ---- listeners: only for events an enabled hook wants ------------------------------------------

  /** enabled hooks by event */
  let byEvent = new Map<TernEventName, Hook[]>();
  let publishHooks: Hook[] = [];
  const unsubscribe = new Map<TernEventName, () => void>();

  const matchesTopic = (h: Hook, topic: string): boolean => h.topic_filters.length === 0 || h.topic_filters.some((f) => topicMatches(f, topic));

  // the batch's promise already has a rejection handler (outbox.ts): no promise per event
  function onEvent(name: TernEventName) {
    if (name === 'message.publish') {
      // the event of high-rate hooks: packed straight into each hook's block
      return (event: TernEvent<'message.publish'>) => {
        if (isSys(event.topic)) return;
        for (const h of publishHooks) if (matchesTopic(h, event.topic)) void outbox.addPublish(h.id, event);
      };
    }
    return (event: TernEvent<TernEventName>) => {
      const hooks = byEvent.get(name);
      if (!hooks) return;
      const topic = messageTopic(name, event);
      if (topic !== undefined && isSys(topic)) return;
      let meta: string | undefined;
      for (const h of hooks) {
        if (topic !== undefined && !matchesTopic(h, topic)) continue;
        meta ??= packMeta(name, event);
        void outbox.add(h.id, meta, packPayload(name, event));
      }
    };
  }

  function rebuild(): void {
    const next = new Map<TernEventName, Hook[]>();
    for (const h of registry.list()) {
      if (!h.enabled) continue;
      for (const e of h.events) {
        let list = next.get(e);
        if (!list) next.set(e, (list = []));
        list.push(h);
      }
    }
    byEvent = next;
    publishHooks = next.get('message.publish') ?? [];
    if (closed) return;
    for (const [name, off] of unsubscribe) {
      if (!next.has(name)) {
        off();
        unsubscribe.delete(name);
      }
    }
    for (const name of next.keys()) {
      // each listener packs its event into the outbox (pack.ts, block.ts) before it returns: it borrows
      if (!unsubscribe.has(name)) unsubscribe.set(name, events.on(name, onEvent(name) as never, { borrows: true }));
    }
  }

  registry.onChange((hook, change) => {
    if (change === 'removed') {
      stats.delete(hook.id);
      inflight.delete(hook.id);
      outbox.removeHook(hook.id).catch((err: unknown) => logger.error({ err, hook: hook.name }, 'webhooks: deleting the outbox rows failed'));
    }
    host.sync();
    rebuild();
  });
  rebuild();
  host.sync();

  const routeBeforePuback = (topic: string): boolean => {
    if (publishHooks.length === 0 || isSys(topic)) return false;
    for (const h of publishHooks) if (matchesTopic(h, topic)) return true;
    return false;
  };

  // The message.publish event was emitted (and its row buffered) just before the published steps
  // run: hold the routing until the row's batch commits.
  deps.chain.add('published', 'webhooks', (packet) => {
    if (packet.qos === 0 || !routeBeforePuback(packet.topic)) return undefined;
    return outbox.uncommitted();
  });

  const offConfig = deps.config.onChange((change) => {
    if (change.keys.some((k) => k.startsWith('web_hook.') && k !== 'web_hook.outbox_max')) {
      seedHooks(deps.db, registry, change.current, logger).catch((err: unknown) => logger.error({ err }, 'webhooks: seeding from the config failed'));
    }
  });

  const view = (h: Hook): HookView => ({ ...h, stats: statsOf(h.id).view(outbox.pending(h.id), outbox.deadLetters(h.id)) });
  const must = (id: number): Hook => {
    const h = registry.get(id);
    if (!h) throw notFound('NOT_FOUND', `hook ${id} not found`);
    return h;
  };

  return {
    list: () => registry.list().map(view),
    get: (id) => view(must(id)),
    create: async (input) => view(await registry.create(input)),
    update: async (id, input) => view(await registry.update(id, input)),
    async remove(id) {
      await registry.remove(id);
    },

    async test(id, event) {
      const hook = must(id);
      const name = event ?? hook.events[0]!;
      const one = formatEvent(name, sampleEvent(name), deps.config.get().node.name, hook.payload_encoding);
      const body = hook.batch_size > 1 ? `[${one}]` : one;
      const res = await sendFor(hook, body);
      return { ok: res.ok, status: res.status, body: res.body, error: res.error, duration_ms: Math.round(res.ms * 100) / 100, request: JSON.parse(body) };
    },

    deliveries(id, status, page, limit) {
      must(id);
      const node = deps.config.get().node.name;
      const enc = must(id).payload_encoding;
      return outbox.list(id, status, (page - 1) * limit, limit, (row) => formatRow(row, node, enc));
    },

    async retry(id, ids) {
      must(id);
      if (ids && ids.length === 0) throw badRequest('ids must not be empty (leave it out to retry every dead letter)');
      return outbox.retry(id, ids);
    },

    metrics() {
      const m = { 'webhooks.delivered': 0, 'webhooks.failed': 0, 'webhooks.dropped': 0, 'webhooks.retried': 0, 'webhooks.pending': 0, 'webhooks.dead_letters': 0 };
      const latencies: Float64Array[] = [];
      for (const h of registry.list()) {
        const s = statsOf(h.id);
        m['webhooks.delivered'] += s.delivered;
        m['webhooks.failed'] += s.failed;
        m['webhooks.dropped'] += s.dropped;
        m['webhooks.retried'] += s.retried;
        m['webhooks.pending'] += outbox.pending(h.id);
        m['webhooks.dead_letters'] += outbox.deadLetters(h.id);
        latencies.push(s.latencies());
      }
      // over the recent requests of every hook together; absent until the first request
      const [p50, p99] = latencyPercentiles(latencies);
      return p50 === null || p99 === null ? m : { ...m, 'webhooks.latency_p50_ms': p50, 'webhooks.latency_p99_ms': p99 };
    },

    onAttempt(fn) {
      attemptListeners.add(fn);
      return () => attemptListeners.delete(fn);
    },

    routeBeforePuback,
    seedFromConfig: () => seedHooks(deps.db, registry, deps.config.get(), logger),

    async close() {
      if (closed) return;
      closed = true;
      offConfig();
      for (const off of unsubscribe.values()) off();
      unsubscribe.clear();
      await host.close();
    },
  };
}
