// The broker's hook chain. aedes takes one function per hook; Tern has many policies (limits,
// bans, authentication, ACL, $SYS access, shared subscriptions, sessions and mqueue, metrics,
// webhooks). Each policy registers its own step for the hooks it needs, from its own file, and the
// chain runs them in the one declared order below. The step signatures are Tern's own (a client
// context, a packet, a verdict), not aedes' callback shapes: core/broker.ts is the one adapter.
//
// Hot path: a chain of synchronous steps runs in a plain loop, with no promise and no closure per
// packet; only a step that returns a promise switches the rest of that run to async.
import type { QoS } from '../types.ts';
import type { DropReason } from '../events.ts';

/**
 * The declared order of the policies. A step names its policy; the chain sorts by this list, so
 * the order is read in one place rather than inferred from registration order.
 */
export const POLICY_ORDER = [
  'protocol', // CONNECT checks, packet and topic limits (protocol/)
  'banned', // banned clients and flapping detection (access/)
  'authentication', // client-id allow-list, built-in users, anonymous (access/)
  'sys-topics', // who may subscribe to $SYS, nobody publishes there (sys/)
  'acl', // authorization rules (access/)
  'auto-subscribe', // subscriptions made by the broker (routing/)
  'shared-subscriptions', // $share/<group>/<filter> and $queue/<filter> (routing/)
  'sessions', // the session registry and the mqueue policy (session/)
  'metrics', // counters (sys/)
  'webhooks', // the durable outbox (hooks/)
] as const;

export type PolicyName = (typeof POLICY_ORDER)[number];

/**
 * What a step knows of the client: the connection's session record satisfies it, so a step gets
 * it without an allocation. Fields are read at call time: after CONNECT they are final.
 */
export interface ClientContext {
  readonly clientid: string;
  readonly username: string | null;
  readonly zone: string;
  /** "<proto>:<name>" of the listener that accepted the connection */
  readonly listener: string;
  /** set by the authentication step */
  isSuperuser: boolean;
  /** the peer address; read from the socket the first time it is asked for */
  peerhost(): string | null;
  /** the subscriptions the connection holds now */
  subscriptionCount(): number;
  hasSubscription(topic: string): boolean;
}

/** The CONNECT as steps see it. */
export interface ConnectInfo {
  clientid: string;
  username: string | undefined;
  password: Buffer | undefined;
  clean: boolean;
  keepalive: number;
  protoName: string;
  protoVer: number;
}

/** A refused CONNECT: the CONNACK return code (1..5 in MQTT 3.1.1) and why, for logs and events. */
export interface ConnectRefusal {
  returnCode: 1 | 2 | 3 | 4 | 5;
  reason: string;
  /** close without a CONNACK (a malformed CONNECT) */
  close?: boolean;
}

/** One entry of a SUBSCRIBE. A step may lower `qos` (the granted QoS) in place. */
export interface SubscribeRequest {
  topic: string;
  qos: QoS;
}

/** A PUBLISH as steps see it: aedes' packets have these fields, Tern's own would too. */
export interface MessagePacket {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly qos: QoS;
  readonly retain: boolean;
  /** the publisher's client id, when a client published it */
  readonly clientId?: string;
}

/**
 * A refused PUBLISH: `drop` acknowledges as usual and discards (counted as message.dropped with
 * the reason); `disconnect` closes the publisher's connection (MQTT 3.1.1 has no reason codes).
 */
export type PublishRefusal = { drop: DropReason; reason: string } | { disconnect: string };

type MaybePromise<T> = T | Promise<T>;

export interface HookSteps {
  /** undefined lets the CONNECT through to the next step */
  connect: (ctx: ClientContext, packet: ConnectInfo) => MaybePromise<ConnectRefusal | undefined>;
  /** a string refuses the entry (SUBACK 0x80) and says why */
  authorizeSubscribe: (ctx: ClientContext, sub: SubscribeRequest) => MaybePromise<string | undefined>;
  authorizePublish: (ctx: ClientContext, packet: MessagePacket) => MaybePromise<PublishRefusal | undefined>;
  /** runs per receiver, synchronously (aedes' contract); false withholds the message from it */
  authorizeForward: (receiver: ClientContext, packet: MessagePacket) => boolean;
  /** after the message is routed; `publisher` is null for messages the broker publishes */
  published: (packet: MessagePacket, publisher: ClientContext | null) => void | Promise<void>;
}

export type HookName = keyof HookSteps;

interface Step<K extends HookName> {
  policy: PolicyName;
  fn: HookSteps[K];
}

export interface HookChainLogger {
  error(obj: object, msg: string): void;
}

export interface HookChain {
  /** adds a step; returns a function that removes it */
  add<K extends HookName>(hook: K, policy: PolicyName, fn: HookSteps[K]): () => void;
  /** the policies with a step on the hook, in run order (for tests and diagnostics) */
  policies(hook: HookName): PolicyName[];
  runConnect(ctx: ClientContext, packet: ConnectInfo): MaybePromise<ConnectRefusal | undefined>;
  runAuthorizeSubscribe(ctx: ClientContext, sub: SubscribeRequest): MaybePromise<string | undefined>;
  runAuthorizePublish(ctx: ClientContext, packet: MessagePacket): MaybePromise<PublishRefusal | undefined>;
  runAuthorizeForward(receiver: ClientContext, packet: MessagePacket): boolean;
  runPublished(packet: MessagePacket, publisher: ClientContext | null): MaybePromise<void>;
}

const isPromise = <T>(v: MaybePromise<T>): v is Promise<T> => typeof (v as Promise<T> | undefined)?.then === 'function';

export function createHookChain(logger: HookChainLogger): HookChain {
  const steps: { [K in HookName]: Step<K>[] } = {
    connect: [],
    authorizeSubscribe: [],
    authorizePublish: [],
    authorizeForward: [],
    published: [],
  };

  function failed(hook: HookName, policy: PolicyName, err: unknown): void {
    logger.error({ err, hook, policy }, 'hook step failed; refusing');
  }

  /**
   * Runs `list` from `start` until a step answers something other than undefined. A step that
   * throws (or rejects) refuses with `onError`: a broken policy must not let everything through.
   * The two arguments are passed through rather than captured in a closure: under tsx (keepNames)
   * every closure created costs a defineProperty, and this runs for every packet.
   */
  function run<K extends 'connect' | 'authorizeSubscribe' | 'authorizePublish', A, B, R>(
    hook: K,
    list: Step<K>[],
    start: number,
    a: A,
    b: B,
    onError: R,
  ): MaybePromise<R | undefined> {
    for (let i = start; i < list.length; i++) {
      const step = list[i]!;
      let out: MaybePromise<R | undefined>;
      try {
        out = (step.fn as (a: A, b: B) => MaybePromise<R | undefined>)(a, b);
      } catch (err) {
        failed(hook, step.policy, err);
        return onError;
      }
      if (isPromise(out)) return continueAsync(hook, list, i, out, a, b, onError);
      if (out !== undefined) return out;
    }
    return undefined;
  }

  /** the rest of a run once step `i` answered a promise */
  function continueAsync<K extends 'connect' | 'authorizeSubscribe' | 'authorizePublish', A, B, R>(
    hook: K,
    list: Step<K>[],
    i: number,
    out: Promise<R | undefined>,
    a: A,
    b: B,
    onError: R,
  ): Promise<R | undefined> {
    return out.then(
      (v) => (v !== undefined ? v : run(hook, list, i + 1, a, b, onError)),
      (err: unknown) => {
        failed(hook, list[i]!.policy, err);
        return onError;
      },
    );
  }

  /** the published steps from `start`: routing already happened, so a failure is logged and skipped */
  function runPublishedFrom(start: number, packet: MessagePacket, publisher: ClientContext | null): MaybePromise<void> {
    const list = steps.published;
    for (let i = start; i < list.length; i++) {
      let out: void | Promise<void>;
      try {
        out = list[i]!.fn(packet, publisher);
      } catch (err) {
        logger.error({ err, hook: 'published', policy: list[i]!.policy }, 'hook step failed');
        continue;
      }
      if (isPromise(out)) {
        const policy = list[i]!.policy;
        return out.then(
          () => runPublishedFrom(i + 1, packet, publisher),
          (err: unknown) => {
            logger.error({ err, hook: 'published', policy }, 'hook step failed');
            return runPublishedFrom(i + 1, packet, publisher);
          },
        );
      }
    }
  }

  const CONNECT_ERROR: ConnectRefusal = { returnCode: 3, reason: 'server unavailable (a policy failed)' };
  const SUBSCRIBE_ERROR = 'a policy failed';
  const PUBLISH_ERROR: PublishRefusal = { drop: 'not_authorized', reason: 'a policy failed' };

  return {
    add(hook, policy, fn) {
      if (!POLICY_ORDER.includes(policy)) throw new Error(`unknown policy ${policy}: add it to POLICY_ORDER`);
      const list = steps[hook] as Step<typeof hook>[];
      const step = { policy, fn } as Step<typeof hook>;
      list.push(step);
      list.sort((a, b) => POLICY_ORDER.indexOf(a.policy) - POLICY_ORDER.indexOf(b.policy));
      return () => {
        const i = list.indexOf(step);
        if (i >= 0) list.splice(i, 1);
      };
    },
    policies: (hook) => steps[hook].map((s) => s.policy),

    runConnect: (ctx, packet) => run('connect', steps.connect, 0, ctx, packet, CONNECT_ERROR),
    runAuthorizeSubscribe: (ctx, sub) => run('authorizeSubscribe', steps.authorizeSubscribe, 0, ctx, sub, SUBSCRIBE_ERROR),
    runAuthorizePublish: (ctx, packet) => run('authorizePublish', steps.authorizePublish, 0, ctx, packet, PUBLISH_ERROR),

    runAuthorizeForward(receiver, packet) {
      const list = steps.authorizeForward;
      for (let i = 0; i < list.length; i++) {
        try {
          if (!list[i]!.fn(receiver, packet)) return false;
        } catch (err) {
          failed('authorizeForward', list[i]!.policy, err);
          return false;
        }
      }
      return true;
    },

    runPublished: (packet, publisher) => runPublishedFrom(0, packet, publisher),
  };
}
