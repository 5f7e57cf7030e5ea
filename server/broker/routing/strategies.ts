// Which member of a shared-subscription group gets a message (broker.shared_subscription_strategy
// and broker.<group>.shared_subscription_strategy). EMQX 5's names; the differences:
// - round_robin keeps one counter per group, not one per publisher: EMQX's per-publisher counter
//   makes many short-lived publishers look random (emqx/emqx#8454). round_robin_per_group is
//   therefore the same strategy here.
// - sticky sticks to the longest-standing connected member (deterministic, where EMQX picks at
//   random) until that member leaves, then to the next longest-standing one.
// A pick runs per message: no allocation, no closure.
import type { SharedStrategy } from '../../config/types.ts';

/** What a strategy may read and keep between picks: one per group. */
export interface PickState {
  /** round_robin's counter */
  next: number;
  /** sticky's current member */
  sticky: string | undefined;
}

/** A candidate as the strategies see it. */
export interface Candidate {
  readonly clientId: string;
}

/** FNV-1a, 32 bits: stable across restarts and processes (unlike a seeded hash). */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The index in `candidates` (non-empty, in join order) of the member that gets the message.
 * `publisher` is the publishing client's id, or null for messages the broker publishes.
 */
export function pickMember(
  strategy: SharedStrategy,
  candidates: readonly Candidate[],
  count: number,
  state: PickState,
  topic: string,
  publisher: string | null,
): number {
  if (count === 1) {
    if (strategy === 'sticky') state.sticky = candidates[0]!.clientId;
    return 0;
  }
  switch (strategy) {
    case 'round_robin':
    case 'round_robin_per_group': {
      const i = state.next % count;
      state.next = (i + 1) % count;
      return i;
    }
    case 'sticky': {
      if (state.sticky !== undefined) {
        for (let i = 0; i < count; i++) if (candidates[i]!.clientId === state.sticky) return i;
      }
      state.sticky = candidates[0]!.clientId;
      return 0;
    }
    case 'hash_clientid':
      // the broker's own messages have no publisher: they hash like an empty id, consistently
      return hash32(publisher ?? '') % count;
    case 'hash_topic':
      return hash32(topic) % count;
    case 'random':
    default:
      return Math.floor(Math.random() * count);
  }
}
