// Tern as server/main.ts starts it, plus a listener on the event bus for message.publish and
// message.delivered that only counts: what the cost of the bus is when someone listens (the
// benchmark of issue 9 compares it with plain Tern in the same run).
import { loadConfig } from '../../server/config/index.ts';
import { createLogger } from '../../server/logger.ts';
import { startTern } from '../../server/tern.ts';

const { config } = loadConfig({ env: process.env });
const tern = await startTern({ config, logger: createLogger(config.log.level) });
const counts = { publish: 0, delivered: 0 };
tern.events.on('message.publish', () => void counts.publish++);
tern.events.on('message.delivered', () => void counts.delivered++);
const stop = () => void tern.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
