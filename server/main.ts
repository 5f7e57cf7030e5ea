// Process entry (npm start): the node as server/node.ts runs it, with this process's arguments and environment.
import { runNode } from './node.ts';

runNode({ argv: process.argv.slice(2), env: process.env });
