// `tern ctl publish`: publish a message as the broker.
import type { Command } from 'commander';
import { action, intIn } from '../context.ts';

export function register(ctl: Command) {
  ctl
    .command('publish')
    .description('publish a message to a topic, as the broker')
    .argument('<topic>')
    .argument('<payload>')
    .option('-q, --qos <qos>', 'QoS 0, 1 or 2', intIn(0, 2), 0)
    .option('-r, --retain', 'retain the message')
    .option('--base64', 'the payload is base64 (binary payloads)')
    .action(
      action(async ({ api, out }, topic: string, payload: string, opts: { qos: number; retain?: boolean; base64?: boolean }) => {
        const res = await api.post<{ id?: string; reason_code?: number; message?: string }>('/publish', {
          topic,
          payload,
          payload_encoding: opts.base64 ? 'base64' : 'plain',
          qos: opts.qos,
          retain: opts.retain === true,
        });
        out.print(res, () =>
          res.id !== undefined
            ? `published to ${topic} (id ${res.id})`
            : `published to ${topic}: no subscriber matched${opts.retain ? ' (retained for later subscribers)' : ''}`,
        );
      }),
    );
}
