// Authentication (built-in users, client ids, anonymous), authorization (ACL), banned clients.
import { http, enc, type Page, type Query } from './http.ts';
import type { Schemas } from './spec.ts';

const USERS = '/authentication/password_based:built_in_database/users';

export type AuthUser = Schemas['AuthUser'];
export type AnonymousSettings = Schemas['AnonymousSettings'];

export const listUsers = (q: Query) => http.get<Page<AuthUser>>(USERS, q);
export const addUser = (u: { user_id: string; password: string; is_superuser: boolean }) => http.post<AuthUser>(USERS, u);
export const updateUser = (id: string, u: { password?: string; is_superuser?: boolean }) => http.put<AuthUser>(`${USERS}/${enc(id)}`, u);
export const deleteUser = (id: string) => http.del(`${USERS}/${enc(id)}`);

export const listClientIds = (q: Query) => http.get<Page<{ clientid: string }>>('/authentication/clientids', q);
export const addClientId = (clientid: string) => http.post('/authentication/clientids', { clientid });
export const deleteClientId = (clientid: string) => http.del(`/authentication/clientids/${enc(clientid)}`);

export const getAnonymous = () => http.get<AnonymousSettings>('/authentication/anonymous');
export const setAnonymous = (zones: Record<string, boolean>) => http.put<AnonymousSettings>('/authentication/anonymous', { zones });

// ---- ACL (issue 12; EMQX 5 shapes) ----
export type AclAction = 'publish' | 'subscribe' | 'all';
export interface AclRule {
  action: AclAction;
  permission: 'allow' | 'deny';
  topic: string;
}
export type AclKind = 'clients' | 'users' | 'all';
export interface AclEntry {
  clientid?: string;
  username?: string;
  rules: AclRule[];
}
const RULES = '/authorization/sources/built_in_database/rules';
export const listAclRules = (kind: 'clients' | 'users', q: Query) => http.get<Page<AclEntry>>(`${RULES}/${kind}`, q);
export const getAclAll = () => http.get<{ rules: AclRule[] }>(`${RULES}/all`);
export const setAclAll = (rules: AclRule[]) => http.post(`${RULES}/all`, { rules });
export const addAclRules = (kind: 'clients' | 'users', entries: AclEntry[]) => http.post(`${RULES}/${kind}`, entries);
export const deleteAclRules = (kind: 'clients' | 'users', who: string) => http.del(`${RULES}/${kind}/${enc(who)}`);
export interface AclFileRule {
  line?: number;
  text?: string;
  permission?: string;
  who?: unknown;
  action?: string;
  topics?: unknown;
}
export const getAclFile = () => http.get<{ file?: string | null; rules: AclFileRule[] }>('/authorization/sources/file/rules');
export interface AclCheck {
  clientid: string;
  username?: string;
  peerhost?: string;
  action: 'publish' | 'subscribe';
  topic: string;
}
export interface AclDecision {
  result?: string;
  decision?: string;
  permission?: string;
  source?: string;
  rule?: unknown;
  line?: number;
  index?: number;
  [k: string]: unknown;
}
export const checkAcl = (c: AclCheck) => http.post<AclDecision>('/authorization/check', c);

// ---- banned (issue 12) ----
export interface Ban {
  as: 'clientid' | 'username' | 'peerhost';
  who: string;
  reason?: string;
  by?: string;
  at?: string;
  until?: string | null;
}
export const listBanned = (q: Query) => http.get<Page<Ban>>('/banned', q);
export const addBan = (b: Ban) => http.post<Ban>('/banned', b);
export const deleteBan = (as: string, who: string) => http.del(`/banned/${enc(as)}/${enc(who)}`);
