// The delivery thread's entry: a worker_threads Worker starts with no loader, so it registers tsx
// itself (however the main thread was started: node --import tsx, the tsx CLI, bin/tern.js).
import { register } from 'tsx/esm/api';

register();
await import('./delivery-thread.ts');
