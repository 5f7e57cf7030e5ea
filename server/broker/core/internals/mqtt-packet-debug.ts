// Loads mqtt-packet with a no-op `debug` for every namespace the DEBUG environment variable does
// not enable (test/unit/internals.test.ts pins it). It belongs with internals/mqtt-packet.ts but
// is a file of its own because it must run before anything loads mqtt-packet (aedes does, as it
// is loaded): it imports nothing but node:module, and core/broker.ts imports it before aedes
// (test/helpers/tern.ts before mqtt.js), so every entry that builds a broker runs it first.
//
// mqtt-packet's parser.js and writeToStream.js call debug('...', args) on every packet parsed
// and written. A debug instance that is off still pays for the rest-args call and its `enabled`
// getter: ~5–6% of the broker's main thread under a QoS 0 flood (profiled), with DEBUG unset.
// Both files take their debug once, at load (`require('debug')('mqtt-packet:parser')`), so the
// package is loaded here while the path `debug` resolves to from mqtt-packet holds a stub in
// require.cache; the real module is put back right after, so every other package (and anyone
// requiring debug later) gets the real one. A namespace DEBUG enables gets the real instance
// from the stub, so with DEBUG=mqtt-packet:* nothing changes. (What debug.enable() turns on at
// run time no longer reaches mqtt-packet's namespaces that were off at start.)
import Module, { createRequire } from 'node:module';

type DebugFactory = ((namespace: string) => (...args: unknown[]) => void) & { enabled(namespace: string): boolean };

export interface MqttPacketDebugState {
  /**
   * quiet: mqtt-packet was loaded here with the stub; already-loaded: something loaded it first,
   * so it has the real debug (nothing was changed)
   */
  outcome: 'quiet' | 'already-loaded';
  /** the namespaces mqtt-packet asked the stub for, and whether each got the no-op */
  namespaces: { namespace: string; quiet: boolean }[];
}

function quietDebug(): void {}
// what a caller may read off a debug instance
Object.defineProperties(quietDebug, { enabled: { value: false }, namespace: { value: '' } });

function loadQuiet(): MqttPacketDebugState {
  const state: MqttPacketDebugState = { outcome: 'already-loaded', namespaces: [] };
  // the copy of mqtt-packet aedes loads (it is ESM, so resolved by path, not through aedes' require)
  const aedesRequire = createRequire(createRequire(import.meta.url).resolve('aedes'));
  const packetPath = aedesRequire.resolve('mqtt-packet');
  // An ESM import of aedes puts an unloaded entry for mqtt-packet in require.cache when the
  // graph is linked, before anything runs: only a loaded one means it is too late.
  if (aedesRequire.cache[packetPath]?.loaded) return state;
  const packetRequire = createRequire(packetPath);
  const debugPath = packetRequire.resolve('debug');
  const realDebug = packetRequire('debug') as DebugFactory;
  const realEntry = packetRequire.cache[debugPath];
  const stub = new Module(debugPath);
  stub.filename = debugPath;
  stub.loaded = true;
  stub.exports = function quietDebugFactory(namespace: string) {
    const quiet = !realDebug.enabled(namespace);
    state.namespaces.push({ namespace, quiet });
    return quiet ? quietDebug : realDebug(namespace);
  };
  packetRequire.cache[debugPath] = stub;
  try {
    aedesRequire('mqtt-packet');
  } finally {
    packetRequire.cache[debugPath] = realEntry;
  }
  state.outcome = 'quiet';
  return state;
}

export const mqttPacketDebug: MqttPacketDebugState = loadQuiet();
