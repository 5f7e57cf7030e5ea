// Tern's internal event bus, named after EMQX's hook points. The broker emits; hooks (webhooks),
// $SYS and metrics consume. Emitting with no listener costs one Map lookup, so the hot path can
// call emit() unconditionally — but it should check has() before building an expensive payload.
import type { QoS } from './types.ts';

export interface ClientInfo {
  clientid: string;
  username: string | null;
}

export interface MessageInfo {
  topic: string;
  qos: QoS;
  retain: boolean;
  payload: Buffer;
  from_clientid: string | null;
  from_username: string | null;
  /** ms */
  ts: number;
}

export type DropReason = 'queue_full' | 'no_subscribers' | 'expired' | 'not_authorized';
export type TerminateReason = 'expired' | 'discarded' | 'kicked' | 'takeovered' | 'normal';

export interface TernEvents {
  'client.connected': ClientInfo & {
    ipaddress: string | null;
    port: number | null;
    keepalive: number;
    proto_name: string;
    proto_ver: number;
    clean_start: boolean;
    expiry_interval: number;
    connected_at: number;
    zone: string;
    listener: string;
  };
  'client.disconnected': ClientInfo & { reason: string; connected_at: number | null; disconnected_at: number; ipaddress: string | null };
  'session.created': ClientInfo & { clean_start: boolean; created_at: number };
  'session.resumed': ClientInfo;
  'session.discarded': ClientInfo;
  'session.takeovered': ClientInfo;
  'session.terminated': ClientInfo & { reason: TerminateReason };
  'session.subscribed': ClientInfo & { topic: string; opts: { qos: QoS } };
  'session.unsubscribed': ClientInfo & { topic: string };
  'message.publish': MessageInfo;
  'message.dropped': MessageInfo & { reason: DropReason; clientid: string | null };
}

export type TernEventName = keyof TernEvents;
type Listener<K extends TernEventName> = (payload: TernEvents[K]) => void;

export interface EventBus {
  on<K extends TernEventName>(name: K, fn: Listener<K>): () => void;
  emit<K extends TernEventName>(name: K, payload: TernEvents[K]): void;
  has(name: TernEventName): boolean;
}

export function createEventBus(onListenerError?: (name: string, err: unknown) => void): EventBus {
  const listeners = new Map<TernEventName, Set<Listener<never>>>();
  return {
    on(name, fn) {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      set.add(fn as Listener<never>);
      return () => set.delete(fn as Listener<never>);
    },
    emit(name, payload) {
      const set = listeners.get(name);
      if (!set) return;
      for (const fn of set) {
        // A failing consumer must not break the broker or the other consumers.
        try {
          (fn as Listener<typeof name>)(payload);
        } catch (err) {
          onListenerError?.(name, err);
        }
      }
    },
    has(name) {
      return (listeners.get(name)?.size ?? 0) > 0;
    },
  };
}
