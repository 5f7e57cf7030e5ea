// emqx.conf's web.hook.* as one hook named "emqx.conf", following the config-seed rule of
// authentication (broker/access/auth.ts): a seed is applied once and remembered, so an API edit
// or delete is not undone by the next start. The remembered seed is the definition itself: when
// the file's web.hook.* change, the new definition is applied (creating the hook again, or
// replacing it), once.
//
// EMQX 4 has a topic per message rule; a Tern hook has one topic filter list for all its message
// events, so the seed takes the union of the rules' topics (a message rule without a topic means
// every topic, and wins). When the rules' topics differ per event, a warning says so.
import type { Kysely } from 'kysely';
import type { Config } from '../config/types.ts';
import type { Database } from '../store/database.ts';
import type { TernEventName } from '../broker/events.ts';
import type { HookRegistry } from './registry.ts';
import type { HookInput } from './types.ts';

export const SEED_NAME = 'emqx.conf';
const SEEDED_KEY = 'webhooks.seeded';

export function seedDefinition(c: Config['web_hook']): HookInput | undefined {
  if (c.url === undefined || c.rules.length === 0) return undefined;
  const events = [...new Set(c.rules.map((r) => r.event))] as TernEventName[];
  const messageRules = c.rules.filter((r) => r.event.startsWith('message.'));
  const everyTopic = messageRules.some((r) => r.topic === undefined);
  const topics = everyTopic ? [] : [...new Set(messageRules.map((r) => r.topic!))];
  return {
    name: SEED_NAME,
    url: c.url,
    events,
    topic_filters: topics,
    headers: { ...c.headers },
    payload_encoding: c.encoding_of_payload_field,
  };
}

/** true when message rules of different events name different topics (the union is an approximation) */
export function topicsDifferPerEvent(c: Config['web_hook']): boolean {
  const perEvent = new Map<string, string>();
  for (const r of c.rules) {
    if (!r.event.startsWith('message.')) continue;
    const list = c.rules.filter((x) => x.event === r.event).map((x) => x.topic ?? '#').sort().join(',');
    perEvent.set(r.event, list);
  }
  return new Set(perEvent.values()).size > 1;
}

export async function seedHooks(
  db: Kysely<Database>,
  registry: HookRegistry,
  config: Config,
  logger: { warn(obj: object, msg: string): void; info(obj: object, msg: string): void },
): Promise<void> {
  const def = seedDefinition(config.web_hook);
  if (config.web_hook.url !== undefined && config.web_hook.rules.length === 0) {
    logger.warn({ url: config.web_hook.url }, 'web.hook.url is set but no web.hook.rule.*: no hook seeded');
  }
  if (!def) return;
  if (topicsDifferPerEvent(config.web_hook)) {
    logger.warn({ topics: def.topic_filters }, 'web.hook.rule.message.*: topics differ per event; the emqx.conf hook filters every message event by all of them');
  }
  const value = JSON.stringify(def);
  const row = await db.selectFrom('setting').select('value').where('key', '=', SEEDED_KEY).executeTakeFirst();
  if (row?.value === value) return;
  const existing = registry.byName(SEED_NAME);
  if (existing) await registry.update(existing.id, def);
  else await registry.create(def);
  logger.info({ hook: SEED_NAME, url: def.url, events: def.events }, 'webhook seeded from the config');
  await db
    .insertInto('setting')
    .values({ key: SEEDED_KEY, value, updated_at: Date.now() })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value, updated_at: Date.now() }))
    .execute();
}
