// CONNECT checks where aedes (and mqtt-packet under it) is more lenient than MQTT 3.1 / 3.1.1.
// mqtt-packet already rejects: an unknown protocol name, a level other than 3/4/5, the reserved
// flag set [MQTT-3.1.2-3], will QoS/retain without the will flag [MQTT-3.1.2-13, -15].
/** the CONNECT fields the checks read */
export interface ConnectFields {
  protocolId: string;
  protocolVersion: number;
  clientId: string;
  clean: boolean;
  username: string | undefined;
  password: Buffer | undefined;
}

export type ConnectVerdict =
  | { action: 'accept' }
  /** answer with this CONNACK return code, then close */
  | { action: 'connack'; returnCode: 1 | 2; reason: string }
  /** a protocol violation: close the network connection without a CONNACK */
  | { action: 'close'; reason: string };

export interface ConnectLimits {
  /** mqtt.max_clientid_len */
  maxClientIdLen: number;
}

/** MQTT 3.1 (MQIsdp) limits client identifiers to 1..23 characters. */
const MQTT31_MAX_CLIENTID = 23;

export function checkConnect(packet: ConnectFields, limits: ConnectLimits): ConnectVerdict {
  const name = packet.protocolId;
  const level = packet.protocolVersion;
  // [MQTT-3.1.2-2] the level must match the protocol: "MQIsdp" is 3.1 (level 3), "MQTT" is
  // 3.1.1 (level 4). Tern speaks no MQTT 5 yet: level 5 gets the same answer aedes gives.
  if (!((name === 'MQIsdp' && level === 3) || (name === 'MQTT' && level === 4))) {
    return { action: 'connack', returnCode: 1, reason: `unsupported protocol ${name} level ${level}` };
  }
  // [MQTT-3.1.2-22] a password without a user name is malformed: close, no CONNACK.
  if (packet.password !== undefined && packet.username === undefined) {
    return { action: 'close', reason: 'password flag set without user name flag [MQTT-3.1.2-22]' };
  }
  const clientId = packet.clientId ?? '';
  if (clientId === '') {
    // MQTT 3.1 has no server-assigned identifiers.
    if (level === 3) return { action: 'connack', returnCode: 2, reason: 'empty client identifier (MQTT 3.1)' };
    // [MQTT-3.1.3-8] an empty identifier is only allowed with clean session.
    if (!packet.clean) {
      return { action: 'connack', returnCode: 2, reason: 'empty client identifier with clean session 0 [MQTT-3.1.3-8]' };
    }
  }
  if (level === 3 && clientId.length > MQTT31_MAX_CLIENTID) {
    return { action: 'connack', returnCode: 2, reason: `client identifier longer than ${MQTT31_MAX_CLIENTID} (MQTT 3.1)` };
  }
  if (clientId.length > limits.maxClientIdLen) {
    return { action: 'connack', returnCode: 2, reason: `client identifier longer than mqtt.max_clientid_len (${limits.maxClientIdLen})` };
  }
  return { action: 'accept' };
}
