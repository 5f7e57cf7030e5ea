// Reloading emqx.conf in a running Tern: SIGHUP, POST /api/v5/configs/reload, `tern ctl conf
// reload` and config.watch all end here, in reload(). The order is what makes it safe:
//   1. read and validate the whole file (+ env), the TLS files its listeners name, and whatever
//      the other modules' checks validate (the ACL file, ...): any problem → ConfigError naming
//      file:line, and nothing has changed;
//   2. plan: every changed key with its class (config/reload.ts); a dry run stops here;
//   3. bind the sockets the new listener set needs while the old ones keep accepting: a port
//      that cannot be bound is refused like a bad value, and nothing has changed;
//   4. put the config in force (restart keys keep their old value), switch the listeners over,
//      run the checks' apply steps, insert new auth seeds. Nothing here can refuse.
// Reloads run one at a time.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { ConfigError } from './config/errors.ts';
import { planReload, type KeyChange, type ReloadCheck } from './config/reload.ts';
import type { ConfigSource } from './config/source.ts';
import type { Config, ListenerConfig, LoadedConfig } from './config/types.ts';
import type { Logger } from './logger.ts';
import type { AnonymousSetting } from './broker/types.ts';
import { ListenerError, sameTlsFiles, shouldRun, type Listeners } from './broker/transport/listeners.ts';

export interface ReloadOptions {
  /** validate and report, change nothing */
  dryRun?: boolean;
  /** what asked: 'SIGHUP', 'api', 'watch'; 'call' when not given (logged) */
  trigger?: string;
  /** who asked, when known (an administrator, an API key) */
  by?: string;
}

export interface ReloadReport {
  /** false for a dry run */
  applied: boolean;
  dry_run: boolean;
  trigger: string;
  /** the file re-read; null when Tern runs on built-in defaults (+ env) */
  file: string | null;
  changes: KeyChange[];
  /** the keys that keep their old value until a restart */
  restart_required: string[];
  /** unknown keys and other non-fatal findings of the new file */
  warnings: string[];
}

// ReloadCheck is declared with the reload plan (config/reload.ts), where the policies that
// validate a file (the ACL's) find it without importing this module, which imports them.
export type { ReloadCheck };

export interface ReloaderDeps {
  config: ConfigSource;
  /** reads the configuration afresh (emqx.conf + env); throws ConfigError */
  read(): LoadedConfig;
  /** the emqx.conf read() reads, if any (config.watch watches it) */
  file: string | undefined;
  listeners: Listeners;
  auth: { seedFromConfig(): Promise<void>; getAnonymous(): Promise<Record<string, AnonymousSetting>> };
  logger: Logger;
  checks?: ReloadCheck[];
  /** after every applied reload (audit log, port table) */
  onReload?: (report: ReloadReport) => void;
  /** after every refused or failed one, with the message the caller got (audit log) */
  onRefused?: (refusal: { trigger: string; by?: string; file: string | null; message: string }) => void;
  /** config.watch: quiet time after the last change on disk before reloading, default 500 ms */
  watchDebounceMs?: number;
}

export interface Reloader {
  reload(opts?: ReloadOptions): Promise<ReloadReport>;
  close(): void;
}

const TLS_FILES = [
  ['keyfile', 'key'],
  ['certfile', 'cert'],
  ['cacertfile', 'ca'],
] as const;

const isTls = (l: ListenerConfig) => l.proto === 'ssl' || l.proto === 'wss';

/**
 * Reads and checks the TLS files of every TLS listener that will run, so a truncated certificate
 * or a key that does not match is refused at its line, before any listener is touched.
 */
function readTls(next: Config, where: (key: string) => string): Map<string, tls.SecureContextOptions> {
  const out = new Map<string, tls.SecureContextOptions>();
  for (const l of next.listeners) {
    if (!isTls(l) || !shouldRun(l)) continue;
    const base = `listener.${l.proto}.${l.name}`;
    const refuse = (field: string, file: string, expected: string): never => {
      throw new ConfigError(`${where(`${base}.${field}`)}: ${base}.${field} = ${JSON.stringify(file)}: expected ${expected}`);
    };
    const files: tls.SecureContextOptions = {};
    for (const [field, option] of TLS_FILES) {
      const file = l[field];
      if (file === undefined) continue;
      let data: Buffer;
      try {
        data = fs.readFileSync(path.resolve(file));
      } catch (err) {
        return refuse(field, file, `a readable file (${(err as Error).message})`);
      }
      files[option] = data;
      try {
        if (option === 'key') crypto.createPrivateKey(data);
        else if (option === 'cert') new crypto.X509Certificate(data);
        else tls.createSecureContext({ ca: data });
      } catch (err) {
        refuse(field, file, `a PEM ${option === 'key' ? 'private key' : 'certificate'} (${(err as Error).message})`);
      }
    }
    // OpenSSL takes a key that does not belong to the certificate and fails every handshake later
    let matches = false;
    try {
      const cert = new crypto.X509Certificate(files.cert as Buffer);
      matches = cert.checkPrivateKey(crypto.createPrivateKey(files.key as Buffer));
      tls.createSecureContext(files);
    } catch (err) {
      refuse('certfile', l.certfile!, `a certificate matching ${base}.keyfile (${(err as Error).message})`);
    }
    if (!matches) refuse('certfile', l.certfile!, `a certificate matching ${base}.keyfile (its public key is not the key's)`);
    out.set(`${l.proto}:${l.name}`, files);
  }
  return out;
}

export function createReloader(deps: ReloaderDeps): Reloader {
  const log = deps.logger.child({ module: 'reload' });
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function run(opts: ReloadOptions): Promise<ReloadReport> {
    const trigger = opts.trigger ?? 'call';
    const dryRun = opts.dryRun === true;
    let loaded: LoadedConfig | undefined;
    try {
      loaded = deps.read();
      const file = loaded.file;
      const origins = loaded.origins;
      const where = (key: string) => origins[key] ?? (file ? `${file} (not set: built-in default)` : 'built-in default');
      const next = loaded.config;
      const current = deps.config.get();

      const tlsFiles = readTls(next, where);
      const applySteps: (() => void)[] = [];
      const changedFiles: { key: string; file: string }[] = [];
      for (const check of deps.checks ?? []) {
        const r = check(next, where);
        if (typeof r === 'function') applySteps.push(r);
        else if (r) {
          if (r.apply) applySteps.push(r.apply);
          changedFiles.push(...(r.changedFiles ?? []));
        }
      }

      // TLS files whose content changed under the same path: the diff of the config can't see those
      for (const [id, files] of tlsFiles) {
        const inForce = deps.listeners.tlsFiles(id);
        if (!inForce || sameTlsFiles(files, inForce)) continue;
        const l = next.listeners.find((x) => `${x.proto}:${x.name}` === id)!;
        const was = current.listeners.find((x) => `${x.proto}:${x.name}` === id);
        for (const [field, option] of TLS_FILES) {
          const a = files[option] as Buffer | undefined;
          const b = inForce[option] as Buffer | undefined;
          if (l[field] !== undefined && l[field] === was?.[field] && !(a && b && a.equals(b))) {
            changedFiles.push({ key: `listener.${l.proto}.${l.name}.${field}`, file: l[field]! });
          }
        }
      }

      const apiOverrides: Record<string, unknown> = {};
      for (const [zone, s] of Object.entries(await deps.auth.getAnonymous())) {
        if (s.source === 'api') apiOverrides[`zone.${zone}.allow_anonymous`] = s.allow;
      }
      const plan = planReload(current, next, {
        apiOverrides,
        changedFiles,
        closeRemovedListenerClients: next.reload.close_removed_listener_clients,
      });
      const report: ReloadReport = {
        applied: false,
        dry_run: dryRun,
        trigger,
        file: file ?? null,
        changes: plan.changes,
        restart_required: plan.restart_required,
        warnings: [...loaded.warnings, ...(loaded.overriddenByEnv ?? [])],
      };
      if (dryRun) {
        log.info({ trigger, by: opts.by, file, changes: summary(plan.changes) }, 'configuration reload dry run: nothing changed');
        return report;
      }

      let staged;
      try {
        staged = await deps.listeners.stage(plan.effective.listeners, tlsFiles);
      } catch (err) {
        if (!(err instanceof ListenerError) || !err.key) throw err;
        const key = err.key;
        const l = next.listeners.find((x) => key.startsWith(`listener.${x.proto}.${x.name}`));
        const value = l ? `${l.host}:${l.port}` : '';
        throw new ConfigError(`${where(key)}: ${key} = ${JSON.stringify(value)}: expected an address this node can listen on (${err.reason ?? err.message})`);
      }
      // From here on nothing refuses: the new config goes in force as a whole.
      deps.config.replace(plan.effective);
      staged.commit({ closeRemovedClients: plan.effective.reload.close_removed_listener_clients });
      for (const step of applySteps) {
        try {
          step();
        } catch (err) {
          log.error({ err }, 'a reload step failed after the reload was committed');
        }
      }
      if (plan.changes.some((c) => c.key === 'auth.user' || c.key === 'auth.client')) {
        await deps.auth.seedFromConfig().catch((err: unknown) => log.error({ err }, 'inserting the new auth seeds failed'));
      }
      report.applied = true;
      for (const w of report.warnings) log.warn(w);
      log.info(
        { trigger, by: opts.by, file, changes: summary(plan.changes), restart_required: plan.restart_required },
        plan.changes.length === 0 ? 'configuration reloaded: nothing changed' : `configuration reloaded: ${plan.changes.length} key(s) changed`,
      );
      deps.onReload?.(report);
      armWatch();
      return report;
    } catch (err) {
      if (err instanceof ConfigError) {
        log.error({ trigger, by: opts.by, file: loaded?.file }, `configuration reload refused, the configuration in force is unchanged: ${err.message}`);
      } else {
        log.error({ err, trigger }, 'configuration reload failed');
      }
      deps.onRefused?.({ trigger, by: opts.by, file: loaded?.file ?? deps.file ?? null, message: (err as Error).message });
      throw err;
    }
  }

  // ---- config.watch ------------------------------------------------------------------------------
  let watchers: fs.FSWatcher[] = [];
  let debounce: NodeJS.Timeout | undefined;
  function armWatch(): void {
    for (const w of watchers) w.close();
    watchers = [];
    const c = deps.config.get();
    const file = deps.file;
    if (closed || !c.config.watch || !file) return;
    // Editors save by writing a new file and renaming it over the old one, which ends a watch on
    // the file itself: watch the directories and filter by name.
    const files = [file, c.acl_file, ...c.listeners.filter(isTls).flatMap((l) => [l.keyfile, l.certfile, l.cacertfile])]
      .filter((f): f is string => f !== undefined)
      .map((f) => path.resolve(f));
    const byDir = new Map<string, Set<string>>();
    for (const f of files) byDir.set(path.dirname(f), (byDir.get(path.dirname(f)) ?? new Set()).add(path.basename(f)));
    for (const [dir, names] of byDir) {
      try {
        const w = fs.watch(dir, { persistent: false }, (_event, name) => {
          if (name !== null && names.has(String(name))) schedule();
        });
        w.on('error', (err) => log.warn({ dir, err: err.message }, 'config.watch: watching stopped'));
        watchers.push(w);
      } catch (err) {
        log.warn({ dir, err: (err as Error).message }, 'config.watch: cannot watch');
      }
    }
    log.debug({ files }, 'config.watch: watching');
  }
  function schedule(): void {
    clearTimeout(debounce);
    debounce = setTimeout(() => {
      reload({ trigger: 'watch' }).catch(() => {
        // refused or failed: already logged, the configuration in force stays
      });
    }, deps.watchDebounceMs ?? 500);
    debounce.unref();
  }

  armWatch();

  function reload(opts: ReloadOptions = {}): Promise<ReloadReport> {
    const result = queue.then(() => run(opts));
    queue = result.catch(() => {});
    return result;
  }

  return {
    reload,
    close() {
      closed = true;
      clearTimeout(debounce);
      for (const w of watchers) w.close();
      watchers = [];
    },
  };
}

function summary(changes: KeyChange[]): string[] {
  return changes.map((c) => `${c.key} (${c.class})`);
}
