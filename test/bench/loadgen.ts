// The load generator: one process per scenario run, separate from the broker. It speaks MQTT 3.1.1
// over raw net sockets: packets are generated once with mqtt-packet and then written as
// pre-built buffers, and incoming bytes are framed by hand (only the fixed header, the topic
// length, the message id and, for latency, an 8-byte timestamp are read), so the generator spends
// far less CPU per message than the broker it drives.
//
// Usage: node --import tsx test/bench/loadgen.ts '<LoadSpec JSON>' (see spec.ts)
// Output: JSON lines on stdout: {"event": ...} while running, then one {"result": ...}.
// Input: with waitForGo, a line on stdin starts the traffic or the connecting; in `connections`,
// the next line ends the hold phase.

import net from 'node:net';
import readline from 'node:readline';
import { performance } from 'node:perf_hooks';
import type { ConnectionsSpec, CpuWindow, LoadEvent, LoadResult, LoadSpec, TrafficResult, TrafficSpec } from './spec.ts';
import { percentiles } from './stats.ts';
import { CONNACK, DISCONNECT_PACKET, PUBACK, PUBLISH, SUBACK, attachFramer, connectPacket, openClient, publishOffsets, publishPacket, subscribePacket } from './wire.ts';

// ---- output --------------------------------------------------------------------------------------

function emit(obj: LoadEvent | { result: LoadResult }): void {
  // stdout to a pipe is synchronous on Linux, so process.exit() right after loses nothing
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const errors: string[] = [];
function noteError(msg: string): void {
  if (errors.length < 20 && !errors.includes(msg)) errors.push(msg);
}

function cpuWindow(startCpu: NodeJS.CpuUsage, startWall: number): CpuWindow {
  const d = process.cpuUsage(startCpu);
  return { userMs: d.user / 1000, systemMs: d.system / 1000, wallMs: performance.now() - startWall };
}

let stopping = false;
function onLost(why: string): void {
  if (!stopping) noteError(why);
}

/** Runs fn(i) for i in [0, n) with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

// ---- traffic -------------------------------------------------------------------------------------

interface Counters {
  received: number;
  sent: number;
  acked: number;
}

const ID_RING = 1024;
const QOS0_BATCH = 256;
const PUMP_BUDGET = 4;

async function runTraffic(spec: TrafficSpec): Promise<void> {
  const c: Counters = { received: 0, sent: 0, acked: 0 };
  const sockets: net.Socket[] = [];
  let recordFrom = Infinity;
  let recordTo = Infinity;
  const expected = spec.latency
    ? Math.ceil(spec.publishers.reduce((s, p) => s + p.count * (p.rate ?? 0), 0) * ((spec.measureMs + 1000) / 1000))
    : 0;
  const latencies = new Float64Array(spec.latency ? expected : 0);
  let nLat = 0;
  let sentInRecord = 0;

  // subscribers
  for (const [gi, g] of spec.subscribers.entries()) {
    await pool(g.count, 100, async (k) => {
      const i = (g.first ?? 0) + k;
      const pendingAcks: number[] = [];
      let sock: net.Socket | undefined;
      let subacked: (() => void) | undefined;
      let subFail: ((e: Error) => void) | undefined;
      let chunkNow = 0;
      sock = await openClient({
        host: spec.host,
        port: spec.port,
        clientId: `${g.clientIdPrefix}${gi}-${i}`,
        keepalive: 60,
        clean: g.clean ?? true,
        onLost,
        onPacket: (b0, buf, start) => {
          const type = b0 >> 4;
          if (type === PUBLISH) {
            c.received++;
            const qos = (b0 >> 1) & 3;
            let p = start + 2 + ((buf[start]! << 8) | buf[start + 1]!);
            if (qos > 0) {
              pendingAcks.push((buf[p]! << 8) | buf[p + 1]!);
              p += 2;
            }
            if (spec.latency) {
              const ts = buf.readDoubleLE(p);
              if (ts >= recordFrom && ts < recordTo && nLat < latencies.length) latencies[nLat++] = chunkNow - ts;
            }
          } else if (type === SUBACK) {
            const code = buf[start + 2];
            if (code === 0x80) subFail?.(new Error(`SUBACK refused ${g.topic}`));
            else subacked?.();
          }
        },
        onChunkEnd: () => {
          if (pendingAcks.length > 0 && sock) {
            const out = Buffer.allocUnsafe(pendingAcks.length * 4);
            for (let k = 0; k < pendingAcks.length; k++) {
              const id = pendingAcks[k]!;
              out[k * 4] = 0x40;
              out[k * 4 + 1] = 2;
              out[k * 4 + 2] = id >> 8;
              out[k * 4 + 3] = id & 0xff;
            }
            pendingAcks.length = 0;
            sock.write(out);
          }
        },
      });
      // the per-chunk receive time is taken before the packets of the chunk are walked
      if (spec.latency) sock.prependListener('data', () => (chunkNow = performance.now()));
      sockets.push(sock);
      await new Promise<void>((resolve, reject) => {
        subacked = resolve;
        subFail = reject;
        sock!.write(subscribePacket(g.topic.replaceAll('{i}', String(i)), g.qos));
      });
    });
  }

  // publishers
  const starters: (() => void)[] = [];
  const stoppers: (() => void)[] = [];
  for (const [gi, g] of spec.publishers.entries()) {
    await pool(g.count, 100, async (k) => {
      const i = (g.first ?? 0) + k;
      const topic = g.topic.replaceAll('{i}', String(i));
      const payload = Buffer.alloc(Math.max(g.payloadBytes, g.rate ? 8 : 0), 0x61);
      const window = g.window ?? 100;
      const inflight = new Uint8Array(ID_RING + 1);
      let inflightCount = 0;
      let nextId = 1;
      let running = false;
      let fill: () => void = () => {};
      const sock = await openClient({
        host: spec.host,
        port: spec.port,
        clientId: `${g.clientIdPrefix}${gi}-${i}`,
        keepalive: 60,
        clean: true,
        onLost,
        onPacket: (b0, buf, start) => {
          if (b0 >> 4 === PUBACK) {
            const id = (buf[start]! << 8) | buf[start + 1]!;
            if (id <= ID_RING && inflight[id]) {
              inflight[id] = 0;
              inflightCount--;
              c.acked++;
            }
          }
        },
        onChunkEnd: () => {
          if (running && g.qos === 1) fill();
        },
      });
      sockets.push(sock);

      if (g.rate === undefined && g.qos === 0) {
        // flood: one pre-built buffer of identical PUBLISHes, written while the socket takes it
        const one = publishPacket(topic, 0, payload, 0);
        const batch = Buffer.concat(Array.from({ length: QOS0_BATCH }, () => one));
        const pump = (): void => {
          for (let n = 0; n < PUMP_BUDGET; n++) {
            if (!running) return;
            c.sent += QOS0_BATCH;
            if (!sock.write(batch)) {
              sock.once('drain', pump);
              return;
            }
          }
          setImmediate(pump);
        };
        starters.push(() => {
          running = true;
          pump();
        });
      } else if (g.rate === undefined) {
        // flood QoS 1: PUBLISHes for ids 1..ID_RING pre-built back to back, so a run of
        // consecutive ids is one zero-copy subarray write
        const one = publishPacket(topic, 1, payload, 1);
        const pktLen = one.length;
        const idOff = publishOffsets(one).id;
        const ring = Buffer.allocUnsafe(pktLen * ID_RING);
        for (let id = 1; id <= ID_RING; id++) {
          const o = (id - 1) * pktLen;
          one.copy(ring, o);
          ring.writeUInt16BE(id, o + idOff);
        }
        fill = () => {
          let room = window - inflightCount;
          if (room <= 0) return;
          sock.cork();
          while (room > 0) {
            const first = nextId;
            let n = 0;
            while (room > 0 && nextId <= ID_RING && !inflight[nextId]) {
              inflight[nextId] = 1;
              nextId++;
              n++;
              room--;
            }
            if (n > 0) {
              sock.write(ring.subarray((first - 1) * pktLen, (first - 1 + n) * pktLen));
              inflightCount += n;
              c.sent += n;
            }
            if (nextId > ID_RING) nextId = 1;
            else if (n === 0) break; // the next id is still unacknowledged: wait for its PUBACK
          }
          sock.uncork();
        };
        starters.push(() => {
          running = true;
          fill();
        });
      } else {
        // paced: each PUBLISH copied from a template, with its id and its send time patched in
        const template = publishPacket(topic, g.qos, payload, 1);
        const off = publishOffsets(template);
        const pktLen = template.length;
        const rate = g.rate;
        let timer: NodeJS.Timeout | undefined;
        let t0 = 0;
        let sentHere = 0;
        const tick = (): void => {
          if (!running) return;
          const now = performance.now();
          let due = Math.floor(((now - t0) * rate) / 1000) - sentHere;
          if (g.qos === 1) due = Math.min(due, window - inflightCount);
          if (due <= 0) return;
          const out = Buffer.allocUnsafe(pktLen * due);
          let n = 0;
          for (; n < due; n++) {
            let id = 0;
            if (g.qos === 1) {
              let tries = 0;
              while (inflight[nextId] && tries++ < ID_RING) nextId = (nextId % ID_RING) + 1;
              if (inflight[nextId]) break;
              id = nextId;
              inflight[id] = 1;
              inflightCount++;
              nextId = (nextId % ID_RING) + 1;
            }
            const o = n * pktLen;
            template.copy(out, o);
            if (id) out.writeUInt16BE(id, o + off.id);
            out.writeDoubleLE(now, o + off.payload);
          }
          sentHere += n;
          c.sent += n;
          if (now >= recordFrom && now < recordTo) sentInRecord += n;
          sock.write(n === due ? out : out.subarray(0, n * pktLen));
        };
        starters.push(() => {
          running = true;
          t0 = performance.now();
          timer = setInterval(tick, 1);
        });
        stoppers.push(() => clearInterval(timer));
      }
      stoppers.push(() => {
        running = false;
      });
    });
  }

  if (spec.waitForGo) {
    emit({ event: 'ready' });
    await stdinLine();
  }

  // timeline: warm-up, measure window, (latency) drain
  const start: Counters = { ...c };
  let startCpu = process.cpuUsage();
  let startWall = performance.now();
  for (const s of starters) s();
  await sleep(spec.warmupMs);
  Object.assign(start, c);
  startCpu = process.cpuUsage();
  startWall = performance.now();
  recordFrom = startWall;
  emit({ event: 'measure-start' });
  const windows: number[] = [];
  let windowFrom = c.received;
  const nWindows = Math.max(1, spec.windows ?? 1);
  for (let k = 0; k < nWindows; k++) {
    // each window ends at its own deadline from the start, so timer lateness does not add up
    await sleep(startWall + (k + 1) * spec.measureMs - performance.now());
    windows.push(c.received - windowFrom);
    windowFrom = c.received;
    if (k < nWindows - 1) emit({ event: 'window-end', index: k });
  }
  const end: Counters = { ...c };
  const cpu = cpuWindow(startCpu, startWall);
  recordTo = performance.now();
  emit({ event: 'measure-end' });
  for (const s of stoppers) s();

  let latency: TrafficResult['latency'];
  if (spec.latency) {
    const deadline = performance.now() + (spec.drainMs ?? 2000);
    while (nLat < sentInRecord && performance.now() < deadline) await sleep(20);
    const [p50, p99, max] = percentiles(latencies.subarray(0, nLat), [50, 99, 100]);
    latency = { samples: nLat, lost: Math.max(0, sentInRecord - nLat), p50: p50!, p99: p99!, max: max! };
  }
  stopping = true;
  emit({
    result: {
      kind: 'traffic',
      received: end.received - start.received,
      sent: end.sent - start.sent,
      acked: end.acked - start.acked,
      windows: spec.windows ? windows : undefined,
      cpu,
      latency,
      errors,
    },
  });
  for (const s of sockets) s.destroy();
}

// ---- connections ---------------------------------------------------------------------------------

async function runConnections(spec: ConnectionsSpec): Promise<void> {
  const sockets: net.Socket[] = [];
  const connack = Buffer.from([0x20, 0x02]);
  let connected = 0;
  let failed = 0;
  let next = 0;
  let pending = 0;
  const sessionMode = spec.subscribe !== undefined || spec.disconnect === true || spec.clean === false;
  let closing = 0;
  let allClosed: (() => void) | undefined;
  if (spec.waitForGo) {
    emit({ event: 'ready' });
    await stdinLine();
  }
  const startCpu = process.cpuUsage();
  const startWall = performance.now();
  emit({ event: 'measure-start' });

  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      noteError(`connect phase timed out after ${spec.connectTimeoutMs} ms`);
      resolve();
    }, spec.connectTimeoutMs);
    const finishOne = (): void => {
      pending--;
      if (connected + failed === spec.count) {
        clearTimeout(timer);
        resolve();
      } else launch();
    };
    const open = (i: number): void => {
      pending++;
      if (sessionMode) return openSession(i);
      let done = false;
      const sock = net.connect({ host: spec.host, port: spec.port });
      sock.on('connect', () => sock.write(connectPacket(`${spec.clientIdPrefix}${i}`, spec.keepalive, true)));
      sock.once('data', (chunk: Buffer) => {
        if (done) return;
        done = true;
        // CONNACK: 0x20 0x02 <flags> <rc>
        if (chunk.length >= 4 && chunk.compare(connack, 0, 2, 0, 2) === 0 && chunk[3] === 0) {
          connected++;
          sockets.push(sock);
        } else {
          failed++;
          noteError(`unexpected reply to CONNECT: ${chunk.subarray(0, 4).toString('hex')}`);
          sock.destroy();
        }
        finishOne();
      });
      sock.on('error', (err) => {
        noteError(err.message);
        if (!done) {
          done = true;
          failed++;
          finishOne();
        }
      });
      sock.on('close', () => {
        if (!done) {
          done = true;
          failed++;
          noteError('closed before CONNACK');
          finishOne();
        } else if (!stopping) noteError('an idle connection was closed by the broker');
      });
    };
    // CONNECT (clean flag from the spec), then SUBSCRIBE and/or DISCONNECT; framed properly,
    // since more than the CONNACK is awaited
    const openSession = (i: number): void => {
      let done = false;
      let subscribed = !spec.subscribe;
      const sock = net.connect({ host: spec.host, port: spec.port });
      const finish = (ok: boolean, why?: string): void => {
        if (done) return;
        done = true;
        if (ok) {
          connected++;
          if (spec.disconnect) {
            closing++;
            sock.end(DISCONNECT_PACKET);
          } else sockets.push(sock);
        } else {
          failed++;
          if (why) noteError(why);
          sock.destroy();
        }
        finishOne();
      };
      sock.on('connect', () => sock.write(connectPacket(`${spec.clientIdPrefix}${i}`, spec.keepalive, spec.clean ?? true)));
      attachFramer(sock, (b0, buf, start) => {
        if (done) return;
        const type = b0 >> 4;
        if (type === CONNACK) {
          if (buf[start + 1] !== 0) return finish(false, `CONNACK return code ${buf[start + 1]}`);
          if (spec.subscribe) sock.write(subscribePacket(spec.subscribe.topic.replaceAll('{i}', String(i)), spec.subscribe.qos));
          else finish(true);
        } else if (type === SUBACK && !subscribed) {
          subscribed = true;
          if (buf[start + 2] === 0x80) return finish(false, `SUBACK refused ${spec.subscribe!.topic}`);
          finish(true);
        }
      });
      sock.on('error', (err) => {
        if (!done) finish(false, err.message);
        else if (!spec.disconnect && !stopping) noteError(err.message);
      });
      sock.on('close', () => {
        if (!done) finish(false, 'closed before CONNACK/SUBACK');
        else if (spec.disconnect) {
          if (--closing === 0 && allClosed) allClosed();
        } else if (!stopping) noteError('an idle connection was closed by the broker');
      });
    };
    const launch = (): void => {
      while (pending < spec.concurrency && next < spec.count) open(next++);
    };
    launch();
  });
  if (spec.disconnect && closing > 0) {
    // the broker closes each connection on its DISCONNECT; wait (bounded) for all of them
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        noteError(`${closing} connections still open 10 s after their DISCONNECT`);
        resolve();
      }, 10_000);
      allClosed = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }
  const elapsedMs = performance.now() - startWall;
  const cpu = cpuWindow(startCpu, startWall);
  emit({ event: 'measure-end' });
  emit({ event: 'connected', connected, failed });

  // hold until the harness has measured the broker (any line on stdin) or holdMs passes
  await stdinLine(spec.holdMs);
  stopping = true;
  emit({ result: { kind: 'connections', connected, failed, elapsedMs, cpu, errors } });
  // RST instead of FIN: thousands of client sockets in TIME_WAIT would outlive the run
  for (const s of sockets) s.resetAndDestroy();
}

/** resolves on the first line (or the end) of stdin */
function stdinLine(timeoutMs = Infinity): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = Number.isFinite(timeoutMs) ? setTimeout(done, timeoutMs) : undefined;
    const rl = readline.createInterface({ input: process.stdin });
    let finished = false;
    function done(): void {
      if (finished) return;
      finished = true;
      clearTimeout(t);
      rl.close();
      resolve();
    }
    rl.once('line', done);
    rl.once('close', done);
  });
}

// ---- main ----------------------------------------------------------------------------------------

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) throw new Error('usage: loadgen.ts <LoadSpec JSON>');
  const spec = JSON.parse(raw) as LoadSpec;
  const limit = spec.kind === 'traffic' ? spec.timeoutMs : spec.connectTimeoutMs + spec.holdMs + 10_000;
  setTimeout(() => {
    process.stderr.write(`loadgen: gave up after ${limit} ms\n`);
    process.exit(3);
  }, limit).unref();
  if (spec.kind === 'traffic') await runTraffic(spec);
  else await runConnections(spec);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`loadgen: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
});
