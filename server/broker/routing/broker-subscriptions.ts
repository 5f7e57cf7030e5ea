// Subscriptions made by the broker ("Subscription by Broker", Enterprise-only in EMQX 4):
// - auto-subscribe templates every client gets at connect (`${clientid}`/`%c`, `${username}`/`%u`),
//   seeded once from module.subscription.<n> in emqx.conf, then managed through the API;
// - per-client lists, applied at each connect of that client id.
// Both live in SQLite (migrations/0011_routing.ts) with an in-memory copy, so a CONNECT reads no
// disk. Each subscription goes through the session registry's subscribe(), i.e. through exactly
// the checks a client's SUBSCRIBE passes (the hook chain's authorizeSubscribe: max_qos_allowed,
// max_subscriptions, wildcard and shared switches, $SYS access, ACL), and shows as source: broker.
// A change applies at once to the clients online.
import type { Kysely } from 'kysely';
import type { ConfigSource } from '../../config/source.ts';
import type { Logger } from '../../logger.ts';
import type { Database } from '../../store/database.ts';
import { badRequest, TernError } from '../../errors.ts';
import type { AedesBroker, Client, AedesClient } from '../core/aedes-types.ts';
import type { EventBus } from '../events.ts';
import { topicFilterProblem } from '../protocol/topic.ts';
import type { Sessions } from '../session/sessions.ts';
import type { QoS, SubscribeOptions } from '../types.ts';

/** EMQX 5's auto_subscribe entry: rh 0..2, rap and nl 0 | 1 */
export interface SubscriptionTemplate {
  topic: string;
  qos: QoS;
  rh: number;
  rap: number;
  nl: number;
}

export interface BrokerSubscription extends SubscriptionTemplate {
  clientid: string;
  /** ms since the epoch */
  created_at: number;
}

export interface BrokerSubscriptions {
  /** the templates, in order */
  templates(): SubscriptionTemplate[];
  /** replaces the templates (stored) and applies the change to the clients online */
  setTemplates(list: SubscriptionTemplate[]): Promise<SubscriptionTemplate[]>;
  list(filter: { clientid?: string }): BrokerSubscription[];
  /**
   * Stores one for the client and, when it is online, subscribes it at once: a refusal by the
   * chain then throws (nothing is stored). Answers the stored entry with the QoS in force.
   */
  add(entry: BrokerSubscription | Omit<BrokerSubscription, 'created_at'>): Promise<{ subscription: BrokerSubscription; granted_qos: QoS | null }>;
  /** removes it and unsubscribes the client (online, or its stored session); false when unknown */
  remove(clientid: string, topic: string): Promise<boolean>;
  isBrokerMade(clientid: string, topic: string): boolean;
  attach(aedes: AedesBroker): void;
}

export interface BrokerSubscriptionDeps {
  db: Kysely<Database>;
  config: ConfigSource;
  sessions: Sessions;
  events: EventBus;
  logger: Logger;
}

const SEEDED_KEY = 'auto_subscribe.seeded';

/** ${clientid} / %c and ${username} / %u; undefined when a placeholder has no value (no username) */
export function expandTemplate(topic: string, clientid: string, username: string | null): string | undefined {
  const usesUser = topic.includes('${username}') || topic.includes('%u');
  if (usesUser && (username === null || username === '')) return undefined;
  return topic.replaceAll('${clientid}', clientid).replaceAll('%c', clientid).replaceAll('${username}', username ?? '').replaceAll('%u', username ?? '');
}

/** why a template is not a valid filter once filled in, or undefined (placeholders count as one plain level's text) */
export function templateProblem(topic: string, mqtt: Parameters<typeof topicFilterProblem>[1]): string | undefined {
  return topicFilterProblem(expandTemplate(topic, 'c', 'u')!, mqtt);
}

const optsOf = (t: SubscriptionTemplate): SubscribeOptions => ({ rh: t.rh, rap: t.rap === 1, nl: t.nl === 1 });

export async function createBrokerSubscriptions(deps: BrokerSubscriptionDeps): Promise<BrokerSubscriptions> {
  const { db, sessions } = deps;
  const log = deps.logger.child({ module: 'broker-subscriptions' });

  // seeds from emqx.conf once: afterwards the stored list (set through the API) is the truth
  const seeded = await db.selectFrom('setting').select('key').where('key', '=', SEEDED_KEY).executeTakeFirst();
  if (!seeded) {
    await db.transaction().execute(async (tx) => {
      const seeds = deps.config.get().auto_subscriptions;
      for (const [i, s] of seeds.entries()) {
        await tx.insertInto('auto_subscribe').values({ position: i, topic: s.topic, qos: s.qos, rh: 0, rap: 0, nl: 0 }).execute();
      }
      await tx.insertInto('setting').values({ key: SEEDED_KEY, value: 'true', updated_at: Date.now() }).execute();
    });
  }
  let templates: SubscriptionTemplate[] = (await db.selectFrom('auto_subscribe').selectAll().orderBy('position').execute()).map((r) => ({
    topic: r.topic,
    qos: r.qos as QoS,
    rh: r.rh,
    rap: r.rap,
    nl: r.nl,
  }));
  const perClient = new Map<string, Map<string, BrokerSubscription>>();
  for (const r of await db.selectFrom('broker_subscription').selectAll().orderBy('created_at').execute()) {
    put({ ...r, qos: r.qos as QoS });
  }
  /** what the broker subscribed each session to, from templates or the list (cleared when they go) */
  const applied = new Map<string, Set<string>>();
  let aedes: AedesBroker | undefined;

  function put(s: BrokerSubscription): void {
    let m = perClient.get(s.clientid);
    if (!m) perClient.set(s.clientid, (m = new Map()));
    m.set(s.topic, s);
  }

  const online = (clientid: string): AedesClient | undefined => {
    const c = aedes?.clients[clientid];
    return c && !c.closed ? c : undefined;
  };

  function markApplied(clientid: string, topic: string): void {
    let set = applied.get(clientid);
    if (!set) applied.set(clientid, (set = new Set()));
    set.add(topic);
  }

  /** subscribes through the registry (the chain); a refusal is logged and answered */
  async function apply(clientid: string, topic: string, t: SubscriptionTemplate): Promise<QoS> {
    // marked first, so session.subscribed (emitted inside subscribe) says source: broker
    const had = applied.get(clientid)?.has(topic) === true;
    markApplied(clientid, topic);
    try {
      return (await sessions.subscribe(clientid, topic, t.qos, optsOf(t))).qos;
    } catch (err) {
      if (!had) applied.get(clientid)?.delete(topic);
      throw err;
    }
  }

  /** several for one client in one SUBSCRIBE; refusals are logged (they apply again at the next connect) */
  async function applyAll(clientid: string, list: [string, SubscriptionTemplate][]): Promise<void> {
    if (list.length === 0) return;
    const had = new Set(applied.get(clientid));
    for (const [topic] of list) markApplied(clientid, topic);
    let results: Awaited<ReturnType<Sessions['subscribeMany']>>;
    try {
      results = await sessions.subscribeMany(
        clientid,
        list.map(([topic, t]) => ({ topic, qos: t.qos, ...optsOf(t) })),
      );
    } catch (err) {
      log.warn({ clientid, err: (err as Error).message }, 'broker subscriptions not applied');
      return;
    }
    results.forEach((r, i) => {
      if (!(r instanceof Error)) return;
      const topic = list[i]![0];
      if (!had.has(topic)) applied.get(clientid)?.delete(topic);
      log.warn({ clientid, topic, err: r.message }, 'broker subscription not applied');
    });
  }

  function expandedTemplates(clientid: string, username: string | null): [string, SubscriptionTemplate][] {
    const out: [string, SubscriptionTemplate][] = [];
    for (const t of templates) {
      const topic = expandTemplate(t.topic, clientid, username);
      if (topic !== undefined) out.push([topic, t]);
    }
    return out;
  }

  async function onReady(client: Client): Promise<void> {
    const id = client.id;
    const mine = perClient.get(id);
    if (templates.length === 0 && !mine) return;
    const list = expandedTemplates(id, (client as AedesClient).tern?.username ?? null);
    if (mine) for (const s of mine.values()) list.push([s.topic, s]);
    await applyAll(id, list);
  }

  return {
    templates: () => templates.map((t) => ({ ...t })),

    async setTemplates(list) {
      const mqtt = deps.config.get().mqtt;
      list.forEach((t, i) => {
        const problem = templateProblem(t.topic, mqtt);
        if (problem) throw badRequest(`body[${i}].topic: topic filter ${problem}`);
      });
      const next = list.map((t) => ({ topic: t.topic, qos: t.qos, rh: t.rh ?? 0, rap: t.rap ?? 0, nl: t.nl ?? 0 }));
      await db.transaction().execute(async (tx) => {
        await tx.deleteFrom('auto_subscribe').execute();
        for (const [i, t] of next.entries()) await tx.insertInto('auto_subscribe').values({ position: i, ...t }).execute();
      });
      const previous = templates;
      templates = next;
      // at once for the clients online: the new expansions subscribe, the dropped ones unsubscribe
      if (aedes) {
        const work: Promise<void>[] = [];
        for (const c of Object.values(aedes.clients)) {
          if (c.closed) continue;
          const username = c.tern?.username ?? null;
          const now = expandedTemplates(c.id, username);
          const keep = new Set(now.map(([topic]) => topic));
          for (const t of previous) {
            const topic = expandTemplate(t.topic, c.id, username);
            if (topic === undefined || keep.has(topic) || perClient.get(c.id)?.has(topic) || !applied.get(c.id)?.has(topic)) continue;
            work.push(sessions.unsubscribe(c.id, topic).catch((err: Error) => log.warn({ clientid: c.id, topic, err: err.message }, 'unsubscribe failed')));
          }
          work.push(applyAll(c.id, now));
        }
        await Promise.all(work);
      }
      return templates.map((t) => ({ ...t }));
    },

    list(filter) {
      const out: BrokerSubscription[] = [];
      if (filter.clientid !== undefined) {
        for (const s of perClient.get(filter.clientid)?.values() ?? []) out.push({ ...s });
        return out;
      }
      for (const m of perClient.values()) for (const s of m.values()) out.push({ ...s });
      return out;
    },

    async add(entry) {
      const problem = topicFilterProblem(entry.topic, deps.config.get().mqtt);
      if (problem) throw badRequest(`body.topic: topic filter ${problem}`);
      const s: BrokerSubscription = {
        clientid: entry.clientid,
        topic: entry.topic,
        qos: entry.qos,
        rh: entry.rh ?? 0,
        rap: entry.rap ?? 0,
        nl: entry.nl ?? 0,
        created_at: 'created_at' in entry ? entry.created_at : Date.now(),
      };
      let granted: QoS | null = null;
      if (online(s.clientid)) {
        // refused by the chain: nothing is stored, the reason is the answer
        granted = await apply(s.clientid, s.topic, s);
      }
      await db
        .insertInto('broker_subscription')
        .values(s)
        .onConflict((oc) => oc.columns(['clientid', 'topic']).doUpdateSet({ qos: s.qos, rh: s.rh, rap: s.rap, nl: s.nl }))
        .execute();
      const stored = perClient.get(s.clientid)?.get(s.topic);
      if (stored) s.created_at = stored.created_at;
      put(s);
      return { subscription: { ...s }, granted_qos: granted };
    },

    async remove(clientid, topic) {
      const had = perClient.get(clientid)?.has(topic) ?? false;
      if (!had) return false;
      await db.deleteFrom('broker_subscription').where('clientid', '=', clientid).where('topic', '=', topic).execute();
      const m = perClient.get(clientid)!;
      m.delete(topic);
      if (m.size === 0) perClient.delete(clientid);
      // the client (online, or its stored persistent session) loses it too
      if (sessions.get(clientid)) {
        try {
          await sessions.unsubscribe(clientid, topic);
        } catch (err) {
          if (!(err instanceof TernError && err.status === 404)) throw err;
        }
      }
      applied.get(clientid)?.delete(topic);
      return true;
    },

    isBrokerMade(clientid, topic) {
      return applied.get(clientid)?.has(topic) === true || perClient.get(clientid)?.has(topic) === true;
    },

    attach(broker) {
      aedes = broker;
      broker.on('clientReady', (client: Client) => {
        void onReady(client);
      });
      deps.events.on('session.unsubscribed', ({ clientid, topic }) => applied.get(clientid)?.delete(topic));
      deps.events.on('session.terminated', ({ clientid }) => {
        if (!online(clientid)) applied.delete(clientid);
      });
    },
  };
}

