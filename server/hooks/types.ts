// What a webhook is, as stored and as the API shows it.
import type { TernEventName } from '../broker/events.ts';

export type PayloadEncoding = 'plain' | 'base64';

/** Everything but name, url and events has a default (DEFAULTS below). */
export interface HookDefinition {
  name: string;
  url: string;
  events: TernEventName[];
  /** message.* events only: deliver those whose topic matches one of them; empty = every topic */
  topic_filters: string[];
  /** extra request headers */
  headers: Record<string, string>;
  enabled: boolean;
  body_format: 'emqx4';
  /** how message payloads appear in bodies */
  payload_encoding: PayloadEncoding;
  /** HMAC-SHA256 key: when set, requests carry x-tern-timestamp and x-tern-signature */
  secret: string | null;
  /** ms for the whole request, response body included */
  timeout: number;
  /** tries per event (batch) before it becomes a dead letter */
  max_attempts: number;
  /** ms before the first retry; doubles per failure (with jitter) up to max_retry_interval */
  retry_interval: number;
  max_retry_interval: number;
  /** events per POST: 1 sends one JSON object, more sends a JSON array of up to this many */
  batch_size: number;
  /**
   * batch_size > 1 only: ms an idle worker waits for more events before it sends a batch that is
   * not full (a hook that keeps up would otherwise send a request per commit)
   */
  batch_time: number;
}

export interface Hook extends HookDefinition {
  id: number;
  created_at: number;
  updated_at: number;
}

export type HookInput = Pick<HookDefinition, 'name' | 'url' | 'events'> & Partial<Omit<HookDefinition, 'name' | 'url' | 'events'>>;

export const HOOK_DEFAULTS: Omit<HookDefinition, 'name' | 'url' | 'events'> = {
  topic_filters: [],
  headers: {},
  enabled: true,
  body_format: 'emqx4',
  payload_encoding: 'plain',
  secret: null,
  timeout: 5000,
  max_attempts: 10,
  retry_interval: 1000,
  max_retry_interval: 60_000,
  batch_size: 1,
  batch_time: 10,
};

export type DeliveryStatus = 'pending' | 'failed' | 'delivered';
export const STATUS_CODE: Record<DeliveryStatus, number> = { pending: 0, failed: 1, delivered: 2 };
export const STATUS_NAME: DeliveryStatus[] = ['pending', 'failed', 'delivered'];

/** One outbox row as the API lists it. */
export interface DeliveryView {
  id: number;
  event_id: string;
  event: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  created_at: number;
  updated_at: number;
  body: unknown;
}

export interface HookStatsView {
  delivered: number;
  failed: number;
  pending: number;
  dropped: number;
  retried: number;
  dead_letters: number;
  last_error: string | null;
  last_error_at: number | null;
  last_success_at: number | null;
  latency_p50_ms: number | null;
  latency_p99_ms: number | null;
}
