// Effective configuration with each value's source, reload, audit log (tags configs, audit).
import { http, type Page, type Query } from './http.ts';
import type { Schemas } from './spec.ts';

export type ConfigDoc = Schemas['Config'];
export type ConfigSource = Schemas['ConfigSource'];
export const getConfigs = () => http.get<ConfigDoc>('/configs');

export type ReloadReport = Schemas['ReloadReport'];
export type ReloadChange = ReloadReport['changes'][number];
export const reload = (dryRun: boolean) => http.post<ReloadReport>('/configs/reload', undefined, { dry_run: dryRun });

export type AuditRow = Schemas['AuditRow'];
export const listAudit = (q: Query) => http.get<Page<AuditRow>>('/audit', q);
