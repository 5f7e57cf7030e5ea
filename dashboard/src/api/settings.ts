// Effective configuration, reload (issue 13), audit log (issue 12).
import { http, type Page, type Query } from './http.ts';

export type ConfigDoc = Record<string, unknown> & { overrides?: Record<string, unknown>; sources?: Record<string, string> };
export const getConfigs = () => http.get<ConfigDoc>('/configs');

export interface ReloadChange {
  key: string;
  old?: unknown;
  new?: unknown;
  class?: 'hot' | 'rebind' | 'restart' | string;
  note?: string;
  [k: string]: unknown;
}
export interface ReloadResult {
  dry_run?: boolean;
  changes?: ReloadChange[];
  changed?: ReloadChange[];
  diff?: ReloadChange[];
  [k: string]: unknown;
}
export const reload = (dryRun: boolean) => http.post<ReloadResult>('/configs/reload', undefined, { dry_run: dryRun });

export interface AuditRow {
  id?: number | string;
  at?: string;
  who?: string;
  operation?: string;
  target?: string;
  source?: string;
  [k: string]: unknown;
}
export const listAudit = (q: Query) => http.get<Page<AuditRow> | AuditRow[]>('/audit', q);
