// The protocol policy's steps on the hook chain: CONNECT checks, the mqtt.* and zone limits of a
// SUBSCRIBE entry, and of a PUBLISH. Values are read from the config source at each call, so a
// reload applies to the next packet.
import type { ConfigSource } from '../../config/source.ts';
import type { HookChain } from '../core/hook-chain.ts';
import { checkConnect } from './connect-check.ts';
import { publishProblem, subscriptionProblem } from './limits.ts';

export function registerProtocolPolicy(chain: HookChain, deps: { config: ConfigSource }): void {
  chain.add('connect', 'protocol', (_ctx, info) => {
    const verdict = checkConnect(
      {
        protocolId: info.protoName,
        protocolVersion: info.protoVer,
        clientId: info.clientid,
        clean: info.clean,
        username: info.username,
        password: info.password,
      },
      { maxClientIdLen: deps.config.get().mqtt.max_clientid_len },
    );
    if (verdict.action === 'accept') return undefined;
    if (verdict.action === 'close') return { returnCode: 2, reason: verdict.reason, close: true };
    return { returnCode: verdict.returnCode, reason: verdict.reason };
  });

  chain.add('authorizeSubscribe', 'protocol', (ctx, sub) => {
    const config = deps.config.get();
    const zone = config.zones[ctx.zone] ?? config.zones.external!;
    return subscriptionProblem(ctx, sub, config, zone);
  });

  chain.add('authorizePublish', 'protocol', (_ctx, packet) => {
    const problem = publishProblem(packet, deps.config.get().mqtt);
    return problem === undefined ? undefined : { disconnect: problem };
  });
}
