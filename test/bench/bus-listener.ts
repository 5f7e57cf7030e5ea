// The cost of a listener on the event bus (issue 9: a message.publish + message.delivered listener
// that only counts, >= 0.95 of none), measured within one broker process: tern-bus-counter's
// listener is switched off and on (over the bench's IPC channel) between the windows of one
// flood, in ABBA blocks. qos0-fanin and qos1-pairs compare tern with tern-bus-counter too, but as
// two processes, and two Tern processes differ by more than the listener: the same code in two
// runs reads 0.8-1.3× (tern/tern-again, and tern/tern-bus-counter with the listener's cost
// ~3% of a profile). Pairing windows of one process leaves the listener.
import { mainThreadCpuMs, type BrokerVariant, type RunningBroker } from './brokers.ts';
import { abbaOrder, fanInShape, floodWithLoad, type Scenario, type ScenarioParams, type WindowedLoad } from './scenarios.ts';

interface Counts {
  on: boolean;
  publish: number;
  delivered: number;
}

interface ListenerWindows {
  ms: number[];
  error?: string;
  /** the broker's main-thread CPU over each window, ms */
  cpuMs: number[];
  /** events the listener counted in each window (publish + delivered) */
  counted: number[];
}

const onlyBusCounter = (v: BrokerVariant): string | undefined =>
  v.name === 'tern-bus-counter' ? undefined : 'switches the listener of tern-bus-counter on and off';

/**
 * The listener on in the 'polled' windows: each boundary asks the broker to switch it, and reads
 * the main thread's CPU and the listener's counts there. The switch lands when the broker reads
 * the request, a few ms into a 2 s window: its counts say it did.
 */
function listenerWindows(broker: RunningBroker): WindowedLoad<ListenerWindows> {
  const marks: Promise<{ cpu: number; counts: Counts | undefined }>[] = [];
  let error: string | undefined;
  const mark = (on: boolean | undefined): void => {
    const cpu = mainThreadCpuMs(broker.pid);
    marks.push(
      broker.ask<Counts>('bus-counter', on === undefined ? {} : { on }).then((counts) => {
        if (!counts) error ??= 'the broker did not answer a bus-counter request';
        return { cpu, counts };
      }),
    );
  };
  let started = false;
  return {
    setActive(on) {
      // the first call is measure-start, the last measure-end: a mark at each window's ends
      started = true;
      mark(on);
    },
    async stop() {
      if (!started) mark(undefined);
      const all = await Promise.all(marks);
      const cpuMs: number[] = [];
      const counted: number[] = [];
      for (let k = 1; k < all.length; k++) {
        cpuMs.push(all[k]!.cpu - all[k - 1]!.cpu);
        const [a, b] = [all[k - 1]!.counts, all[k]!.counts];
        counted.push(a && b ? b.publish + b.delivered - (a.publish + a.delivered) : NaN);
      }
      return { ms: [], error, cpuMs, counted };
    },
  };
}

function busListener(qos: 0 | 1): Scenario {
  const name = `qos${qos}-bus-listener`;
  const shape = () =>
    qos === 0
      ? fanInShape()
      : {
          subscribers: [{ count: 50, topic: 'bench/pair/{i}', qos: 1 as const, clientIdPrefix: 'pair-sub' }],
          publishers: [{ count: 50, topic: 'bench/pair/{i}', qos: 1 as const, payloadBytes: 64, window: 100, clientIdPrefix: 'pair-pub' }],
        };
  return {
    name,
    description:
      `${qos === 0 ? 'qos0-fanin' : 'qos1-pairs'}'s flood on tern-bus-counter, without a break through back-to-back 2 s measure windows after the usual warm-up, ` +
      'its counting message.publish + message.delivered listener off and on in ABBA blocks (8 windows; --quick 4), switched at the window boundaries. ' +
      'msg/s and main-thread CPU per message with and without the listener (means over their windows), and listened/none (target >= 0.95). tern-bus-counter only',
    metrics: [
      { name: `${name}-none`, unit: 'msg/s', better: 'higher' },
      { name: `${name}-on`, unit: 'msg/s', better: 'higher' },
      { name: `${name}-ratio`, unit: '×', better: 'higher', target: 0.95 },
      { name: `${name}-main-none`, unit: 'µs', better: 'lower' },
      { name: `${name}-main-on`, unit: 'µs', better: 'lower' },
      // what the throughput ratio would be with the main thread as the only bound
      { name: `${name}-main-ratio`, unit: '×', better: 'higher' },
    ],
    skip: onlyBusCounter,
    extraBrokers: ['tern-bus-counter'],
    async run(broker: RunningBroker, p: ScenarioParams) {
      // 'polled' = listening
      const order = abbaOrder(p.quick ? 1 : 2);
      const { r, done, mean, windows } = await floodWithLoad(broker, p, order, listenerWindows(broker), () => {}, shape());
      if (done.error) throw new Error(done.error);
      const received = r.result.windows ?? [];
      // the listener's own evidence: it counted in every window it was on, and nothing in the others
      // (a QoS 0 publish is one message.publish and one message.delivered)
      for (let k = 0; k < order.length; k++) {
        const on = order[k] === 'polled';
        const n = done.counted[k]!;
        if (on ? !(n > received[k]!) : n !== 0) throw new Error(`window ${k + 1} (listener ${on ? 'on' : 'off'}): it counted ${n} events for ${received[k]} messages received`);
      }
      const mainPerMsg = (kind: 'polled' | 'unpolled'): number => {
        let cpu = 0;
        let n = 0;
        for (let k = 0; k < order.length; k++) if (order[k] === kind) ((cpu += done.cpuMs[k]!), (n += received[k]!));
        return (cpu * 1000) / n;
      };
      const none = mean('unpolled');
      const on = mean('polled');
      const [mainNone, mainOn] = [mainPerMsg('unpolled'), mainPerMsg('polled')];
      return {
        values: {
          [`${name}-none`]: none,
          [`${name}-on`]: on,
          [`${name}-ratio`]: on / none,
          [`${name}-main-none`]: mainNone,
          [`${name}-main-on`]: mainOn,
          [`${name}-main-ratio`]: mainNone / mainOn,
        },
        cpu: r.cpu,
        notes: [...r.notes, `windows (k msg/s, L = listening): ${windows('L')}`],
      };
    },
  };
}

export function busListenerScenarios(): Scenario[] {
  return [busListener(0), busListener(1)];
}
