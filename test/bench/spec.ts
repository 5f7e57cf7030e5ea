// What the load generator is asked to do (LoadSpec, a JSON argument) and what it reports (JSON lines
// on stdout). Shared by loadgen.ts and the harness (scenarios.ts).

export interface SubscriberGroup {
  count: number;
  /** index of this worker's first client within the whole group (when split across workers) */
  first?: number;
  /** `{i}` is replaced by the client's index within the group */
  topic: string;
  qos: 0 | 1;
  clientIdPrefix: string;
  /** default true */
  clean?: boolean;
}

export interface PublisherGroup {
  count: number;
  /** index of this worker's first client within the whole group (when split across workers) */
  first?: number;
  /** `{i}` is replaced by the client's index within the group */
  topic: string;
  qos: 0 | 1;
  payloadBytes: number;
  clientIdPrefix: string;
  /** QoS 1: most unacknowledged PUBLISHes per publisher (default 100) */
  window?: number;
  /**
   * messages/s per publisher, paced by a 1 ms timer, each carrying its send time in the first
   * 8 payload bytes; undefined = flood, as fast as the broker takes them (TCP backpressure for
   * QoS 0, the window for QoS 1)
   */
  rate?: number;
}

export interface TrafficSpec {
  kind: 'traffic';
  host: string;
  port: number;
  subscribers: SubscriberGroup[];
  publishers: PublisherGroup[];
  warmupMs: number;
  measureMs: number;
  /**
   * split the measure phase into this many back-to-back windows of measureMs each (default 1),
   * with {"event":"window-end","index":k} between them and the count of each in `windows`
   */
  windows?: number;
  /** record end-to-end latency from the timestamps of paced publishers */
  latency?: boolean;
  /** after the measure window, how long to wait for messages still on their way (latency) */
  drainMs?: number;
  /** hard limit for the whole process */
  timeoutMs: number;
  /**
   * after connecting and subscribing, announce {"event":"ready"} and wait for a line on stdin
   * before publishing, so several generator processes start their timelines together
   */
  waitForGo?: boolean;
}

export interface ConnectionsSpec {
  kind: 'connections';
  host: string;
  port: number;
  count: number;
  /** most CONNECTs awaiting their CONNACK at once */
  concurrency: number;
  keepalive: number;
  clientIdPrefix: string;
  /** limit for the connect phase */
  connectTimeoutMs: number;
  /** how long to hold the connections if nobody writes to stdin */
  holdMs: number;
  /** as in TrafficSpec: announce `ready`, start connecting on a line on stdin */
  waitForGo?: boolean;
  /** CONNECT's clean session flag (default true); false makes persistent sessions */
  clean?: boolean;
  /** after the CONNACK, subscribe (`{i}` is the client's index) and wait for the SUBACK */
  subscribe?: { topic: string; qos: 0 | 1 };
  /**
   * after the CONNACK (and SUBACK), send DISCONNECT and let the broker close the connection:
   * with clean=false this leaves N offline sessions. `connected` then counts the sessions made.
   */
  disconnect?: boolean;
}

export type LoadSpec = TrafficSpec | ConnectionsSpec;

export interface CpuWindow {
  /** process.cpuUsage() delta, ms */
  userMs: number;
  systemMs: number;
  wallMs: number;
}

export interface TrafficResult {
  kind: 'traffic';
  /** PUBLISH packets received by all subscribers inside the measure window */
  received: number;
  /** PUBLISH packets written by all publishers inside the measure window */
  sent: number;
  /** PUBACKs received by publishers inside the measure window */
  acked: number;
  /** with spec.windows: PUBLISH packets received in each window */
  windows?: number[];
  cpu: CpuWindow;
  latency?: { samples: number; lost: number; p50: number; p99: number; max: number };
  errors: string[];
}

export interface ConnectionsResult {
  kind: 'connections';
  connected: number;
  failed: number;
  /** first connect() to last CONNACK */
  elapsedMs: number;
  cpu: CpuWindow;
  errors: string[];
}

export type LoadResult = TrafficResult | ConnectionsResult;

export type LoadEvent =
  | { event: 'ready' }
  | { event: 'measure-start' }
  | { event: 'window-end'; index: number }
  | { event: 'measure-end' }
  | { event: 'connected'; connected: number; failed: number };
