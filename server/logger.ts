import { pino, type Logger } from 'pino';
import type { LogLevel } from './config/types.ts';

export type { Logger };

/** Structured JSON logs on stdout; one logger per process, children per module. */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { app: 'tern' } }, destination);
}
