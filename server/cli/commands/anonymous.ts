// `tern ctl anonymous show|set <zone> on|off`: anonymous access per zone.
import { Argument, type Command } from 'commander';
import { action } from '../context.ts';
import { table } from '../output.ts';

interface Anonymous { zones: Record<string, boolean>; sources: Record<string, 'api' | 'config'> }

function view(a: Anonymous): string {
  const rows = Object.keys(a.zones).map((zone) => ({ zone, allow: a.zones[zone], source: a.sources[zone] }));
  return table(rows, [
    { header: 'ZONE', value: (r) => r.zone },
    { header: 'ALLOW_ANONYMOUS', value: (r) => r.allow },
    // api: set here or in the dashboard, it wins over emqx.conf until set again
    { header: 'SET_BY', value: (r) => (r.source === 'api' ? 'api (wins over emqx.conf)' : 'emqx.conf') },
  ]);
}

export function register(ctl: Command) {
  const anonymous = ctl.command('anonymous').description('whether clients without a username are let in, per zone');

  anonymous
    .command('show')
    .description('each zone and where its setting comes from')
    .action(
      action(async ({ api, out }) => {
        const a = await api.get<Anonymous>('/authentication/anonymous');
        out.print(a, () => view(a));
      }),
    );

  anonymous
    .command('set')
    .summary('allow (on) or refuse (off) anonymous clients in a zone')
    .description('allow (on) or refuse (off) anonymous clients in a zone, from the next CONNECT')
    .argument('<zone>')
    .addArgument(new Argument('<on|off>').choices(['on', 'off']))
    .action(
      action(async ({ api, out }, zone: string, value: 'on' | 'off') => {
        const a = await api.put<Anonymous>('/authentication/anonymous', { zones: { [zone]: value === 'on' } });
        out.print(a, () => view(a));
      }),
    );
}
