#!/usr/bin/env node
// `tern` as installed by npm (package.json "bin"): the CLI is TypeScript, run through tsx.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../server/cli/main.ts');
const code = await run(process.argv.slice(2));
process.stdout.write('', () => process.exit(code));
