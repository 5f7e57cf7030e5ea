// Login, administrators, API keys (tag admin of the spec).
import { http, enc, session } from './http.ts';
import type { Schemas } from './spec.ts';

export type LoginResponse = Schemas['LoginResponse'];
export type AdminUser = Schemas['AdminUser'];
export type ApiKey = Schemas['ApiKey'] & { api_secret?: string };

export async function login(username: string, password: string): Promise<LoginResponse> {
  const res = await http.post<LoginResponse>('/login', { username, password });
  session.set(res.token, username, res.default_password === true);
  return res;
}
export async function logout(): Promise<void> {
  try {
    await http.post('/logout');
  } finally {
    session.clear();
  }
}
export const changePassword = (username: string, old_pwd: string, new_pwd: string) =>
  http.post<void>(`/users/${enc(username)}/change_pwd`, { old_pwd, new_pwd });
export const listAdmins = () => http.get<AdminUser[]>('/users');
export const createAdmin = (u: { username: string; password: string; description?: string }) => http.post<AdminUser>('/users', u);
export const deleteAdmin = (username: string) => http.del(`/users/${enc(username)}`);
export const listApiKeys = () => http.get<ApiKey[]>('/api_key');
export const createApiKey = (k: { name: string; desc?: string; expired_at?: string }) => http.post<ApiKey>('/api_key', k);
export const updateApiKey = (name: string, k: { enable?: boolean; desc?: string }) => http.put<ApiKey>(`/api_key/${enc(name)}`, k);
export const deleteApiKey = (name: string) => http.del(`/api_key/${enc(name)}`);
