// Authentication (built-in users, client ids, anonymous), authorization (ACL), banned clients.
import { ApiError, http, enc, type Page, type Query } from './http.ts';
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

// ---- ACL (EMQX 5 shapes) ----
export type AclRule = Schemas['AclRule'];
export type AclAction = AclRule['action'];
export type AclEntry = { clientid?: string; username?: string; rules: AclRule[] };
const RULES = '/authorization/sources/built_in_database/rules';
const one = (kind: 'clients' | 'users') => (kind === 'clients' ? 'clientid' : 'username');
export const listAclRules = (kind: 'clients' | 'users', q: Query) => http.get<Page<AclEntry>>(`${RULES}/${kind}`, q);
export const getAclAll = () => http.get<Schemas['AllRules']>(`${RULES}/all`);
export const setAclAll = (rules: AclRule[]) => http.post<void>(`${RULES}/all`, { rules });
/** the rules of one client id or username; none (404) is an empty list */
export async function getAclRules(kind: 'clients' | 'users', who: string): Promise<AclRule[]> {
  try {
    return (await http.get<AclEntry>(`${RULES}/${kind}/${enc(who)}`)).rules;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && !err.unavailable) return [];
    throw err;
  }
}
/** POST replaces the rules of each principal it names: the page appends to what is there */
export const setAclRules = (kind: 'clients' | 'users', who: string, rules: AclRule[]) =>
  http.put<void>(`${RULES}/${kind}/${enc(who)}`, { [one(kind)]: who, rules });
export const deleteAclRules = (kind: 'clients' | 'users', who: string) => http.del(`${RULES}/${kind}/${enc(who)}`);
export type FileRules = Schemas['FileRules'];
export const getAclFile = () => http.get<FileRules>('/authorization/sources/file/rules');
export type AclCheck = Schemas['AuthorizationCheck'];
export type AclDecision = Schemas['AuthorizationDecision'];
export const checkAcl = (c: AclCheck) => http.post<AclDecision>('/authorization/check', c);

// ---- banned ----
export type Ban = Schemas['Ban'];
export type BanCreate = Schemas['BanCreate'];
export const listBanned = (q: Query) => http.get<Page<Ban>>('/banned', q);
export const addBan = (b: BanCreate) => http.post<Ban>('/banned', b);
export const deleteBan = (as: string, who: string) => http.del(`/banned/${enc(as)}/${enc(who)}`);
