// Log output. One pino logger per process, children per module; where its lines go and how they
// look is decided once from the `log.*` keys:
//   - format: `text` is one readable line per record (time, level, [module] message, key fields),
//     coloured on a terminal; `json` is pino's JSON lines; `auto` is text when the console is a
//     terminal and JSON otherwise (a pipe, a service manager, a log shipper). A file is always
//     JSON under `auto`: files are read by tools.
//   - to: console (stdout), file (log.file), or both.
//   - rotation: by size, logrotate-style (log.file, log.file.1 newest ... log.file.<count>).
import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger, type DestinationStream, type LevelWithSilent } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { createStream as createRotatingStream } from 'rotating-file-stream';
import type { LogConfig, LogLevel } from './config/types.ts';

export type { Logger };

const BASE = { app: 'tern' };

/** Structured JSON logs on stdout (or `destination`); what tests and embedders use. */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ level, base: BASE }, destination);
}

export interface LogOutput {
  logger: Logger;
  /** what the console shows ('none' with log.to = file): the banner is printed only for 'text' */
  console: 'text' | 'json' | 'none';
  /** the log file written, absolute, if any */
  file: string | undefined;
  /** writes out what is buffered and closes the file; call before process.exit */
  close(): Promise<void>;
}

export interface LogOutputOptions {
  /** where console lines go; process.stdout by default */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** colours on a text console; defaults to stdout being a terminal without NO_COLOR set */
  color?: boolean;
  /** log.file is relative to this; process.cwd() by default */
  cwd?: string;
}

/** `auto` resolved for a console that is or is not a terminal. */
export function consoleFormat(format: LogConfig['format'], isTTY: boolean): 'text' | 'json' {
  if (format === 'auto') return isTTY ? 'text' : 'json';
  return format;
}

/** Keys every record carries that a reader at a terminal does not need, or that have a place of
 *  their own on the line. */
const NOT_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'app', 'module', 'msg', 'v']);

function fieldValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v instanceof Error) return JSON.stringify(v.message);
  if (v && typeof v === 'object' && 'message' in v && typeof (v as { message: unknown }).message === 'string') {
    return JSON.stringify((v as { message: string }).message); // a serialized error
  }
  return JSON.stringify(v) ?? String(v);
}

/** "[module] message key=value key=value", and an error's stack on the lines after it. */
export function formatTextMessage(log: Record<string, unknown>, dim: (s: string) => string = (s) => s): string {
  let line = `${typeof log.module === 'string' ? `[${log.module}] ` : ''}${String(log.msg ?? '')}`;
  const fields: string[] = [];
  let stack: string | undefined;
  for (const [k, v] of Object.entries(log)) {
    if (NOT_FIELDS.has(k) || v === undefined) continue;
    fields.push(`${k}=${fieldValue(v)}`);
    const s = v && typeof v === 'object' ? (v as { stack?: unknown }).stack : undefined;
    if ((k === 'err' || k === 'error') && typeof s === 'string') stack = s;
  }
  if (fields.length > 0) line += ' ' + dim(fields.join(' '));
  if (stack) line += '\n' + stack.replace(/^/gm, '    ');
  return line;
}

/** A pino-pretty stream writing one readable line per record. */
export function textStream(destination: NodeJS.WritableStream, color: boolean): DestinationStream {
  return PinoPretty({
    destination,
    colorize: color,
    sync: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    // The fields are on the message line (formatTextMessage), not in pino-pretty's block below it.
    hideObject: true,
    messageFormat: (log, _key, _label, { colors }) => formatTextMessage(log, color ? colors.gray : undefined),
  });
}

/** log.file as an append-only stream, rotated by size when log.rotation is on. */
function fileStream(log: LogConfig, file: string): NodeJS.WritableStream {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!log.rotation.enable) return fs.createWriteStream(file, { flags: 'a' });
  const stream = createRotatingStream(path.basename(file), {
    path: path.dirname(file) + path.sep,
    size: `${log.rotation.size}B`,
    rotate: log.rotation.count,
  });
  // A failed rotation (disk full, permissions) must not take the broker down; say it on stderr,
  // the one place left to say it.
  stream.on('error', (err: Error) => process.stderr.write(`tern: log file ${file}: ${err.message}\n`));
  return stream;
}

export function createLogOutput(log: LogConfig, opts: LogOutputOptions = {}): LogOutput {
  const stdout = opts.stdout ?? process.stdout;
  const isTTY = stdout.isTTY === true;
  const streams: { level: LevelWithSilent; stream: DestinationStream }[] = [];
  const closers: (() => Promise<void>)[] = [];
  let shown: LogOutput['console'] = 'none';
  let file: string | undefined;

  if (log.to === 'console' || log.to === 'both') {
    shown = consoleFormat(log.format, isTTY);
    const color = opts.color ?? (isTTY && !process.env.NO_COLOR);
    streams.push({ level: 'trace', stream: shown === 'text' ? textStream(stdout, color) : (stdout as DestinationStream) });
  }
  if (log.to === 'file' || log.to === 'both') {
    file = path.resolve(opts.cwd ?? process.cwd(), log.file);
    const out = fileStream(log, file);
    const text = log.format === 'text';
    streams.push({ level: 'trace', stream: text ? textStream(out, false) : (out as DestinationStream) });
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          out.once('finish', () => resolve());
          out.once('error', () => resolve());
          out.end();
        }),
    );
  }

  // Every stream takes every level: the logger's own level filters, so changing logger.level
  // (a reload of log.level) applies to all outputs at once.
  const destination = streams.length === 1 ? streams[0]!.stream : pino.multistream(streams);
  const logger = pino({ level: log.level, base: BASE }, destination);
  return {
    logger,
    console: shown,
    file,
    async close() {
      for (const c of closers) await c();
    },
  };
}
