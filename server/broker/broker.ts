// Assembles aedes with Tern's policies: CONNECT checks, per-zone authentication, and the
// per-connection state (zone, username) that aedes itself does not keep.
import { Aedes } from 'aedes';
import type { Config } from '../config/types.ts';
import type { Logger } from '../logger.ts';
import type { AuthService } from './types.ts';
import { checkConnect } from './protocol.ts';
import type { AedesBroker, AedesClient, ConnState, Client, ConnectPacket } from './aedes-types.ts';

export interface BrokerDeps {
  config: () => Config;
  auth: AuthService;
  logger: Logger;
  /** an aedes persistence; aedes' in-memory one when omitted */
  persistence?: unknown;
  /** extra aedes options (hooks added by other broker modules) */
  hooks?: Partial<Pick<import('aedes').AedesOptions, 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'>>;
}

type AuthError = Error & { returnCode: number };

function authError(returnCode: number, message: string): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

export async function createBroker(deps: BrokerDeps): Promise<AedesBroker> {
  const { auth, logger } = deps;
  const log = logger.child({ module: 'broker' });
  // The CONNECT verdicts that must become a CONNACK 2 are decided in preConnect (where the
  // packet is visible) and answered in authenticate (the only hook that can pick CONNACK 2..5).
  const rejectWith = new WeakMap<Client, AuthError>();

  const aedes = (await Aedes.createBroker({
    id: deps.config().node.name,
    persistence: deps.persistence,
    ...deps.hooks,

    preConnect(client: Client, packet: ConnectPacket, done: (err: Error | null, ok: boolean) => void) {
      const verdict = checkConnect(packet, { maxClientIdLen: deps.config().mqtt.max_clientid_len });
      const state = (client as AedesClient).tern;
      if (state) {
        state.protoName = packet.protocolId ?? 'MQTT';
        state.protoVer = packet.protocolVersion ?? 4;
        state.keepalive = packet.keepalive ?? 0;
        state.username = packet.username;
      }
      if (verdict.action === 'close') {
        log.warn({ clientid: packet.clientId, reason: verdict.reason }, 'malformed CONNECT, connection closed');
        return done(new Error(verdict.reason), false);
      }
      if (verdict.action === 'connack') {
        log.info({ clientid: packet.clientId, returnCode: verdict.returnCode, reason: verdict.reason }, 'CONNECT refused');
        if (verdict.returnCode === 1) {
          // aedes answers CONNACK 1 itself for a level outside 3..4; steer it there.
          packet.protocolVersion = 0 as ConnectPacket['protocolVersion'];
        } else {
          rejectWith.set(client, authError(verdict.returnCode, verdict.reason));
        }
      }
      done(null, true);
    },

    authenticate(client, username, password, done) {
      const rejection = rejectWith.get(client);
      if (rejection) return done(rejection as never, false);
      const state = (client as AedesClient).tern;
      auth
        .authenticate({ zone: state?.zone ?? 'external', clientId: client.id, username, password })
        .then((result) => {
          if (result.ok) {
            if (state) state.isSuperuser = result.isSuperuser;
            return done(null, true);
          }
          log.info({ clientid: client.id, username, returnCode: result.returnCode }, 'authentication failed');
          done(authError(result.returnCode, result.returnCode === 4 ? 'bad user name or password' : 'not authorized') as never, false);
        })
        .catch((err: Error) => {
          log.error({ err, clientid: client.id }, 'authentication error');
          done(authError(3, 'server unavailable') as never, false);
        });
    },
  })) as AedesBroker;

  aedes.on('clientReady', (client) => {
    const state = (client as AedesClient).tern;
    if (state) state.connectedAt = Date.now();
  });
  aedes.on('clientError', (client, err) => log.debug({ clientid: client.id, err: err.message }, 'client error'));
  aedes.on('connectionError', (_client, err) => log.debug({ err: err.message }, 'connection error'));
  return aedes;
}

/** Fresh per-connection state; listeners call this right after aedes.handle(). */
export function newConnState(zone: string, listener: string): ConnState {
  return {
    zone,
    listener,
    username: undefined,
    protoName: 'MQTT',
    protoVer: 4,
    keepalive: 0,
    connectedAt: undefined,
    isSuperuser: false,
    recvMsg: 0,
    sendMsg: 0,
  };
}
