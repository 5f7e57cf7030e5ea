// `tern ctl acl check`: what the ACL decides for a client, and which rule decided (issue 12's API).
import { Argument, type Command } from 'commander';
import { action } from '../context.ts';
import { looseObject } from '../output.ts';

export function register(ctl: Command) {
  const acl = ctl.command('acl').description('the ACL: ask what it decides');

  acl
    .command('check')
    .summary('the ACL decision for a client, action and topic, and its rule')
    .description('would this client be allowed to publish or subscribe to this topic, and by which rule')
    .argument('<clientid>')
    .addArgument(new Argument('<action>').choices(['publish', 'subscribe']))
    .argument('<topic>')
    .option('--mqtt-username <name>', 'the username the client logs in with')
    .option('--peerhost <ip>', "the client's address", '127.0.0.1')
    .action(
      action(async ({ api, out }, clientid: string, act: string, topic: string, opts: { mqttUsername?: string; peerhost: string }) => {
        const res = await api.post<Record<string, unknown>>('/authorization/check', {
          clientid,
          username: opts.mqttUsername ?? null,
          peerhost: opts.peerhost,
          action: act,
          topic,
        });
        out.print(res, () => looseObject(res));
      }),
    );
}
