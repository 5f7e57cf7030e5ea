// Kysely's view of the SQLite schema: one interface per table, all in one Database type.
// The tables are created by the numbered files in migrations/.
import type { Generated } from 'kysely';

/** built-in MQTT users (password_based:built_in_database) */
export interface MqttUserTable {
  user_id: string;
  /** scrypt$N$r$p$salt$hash, never the clear password */
  password_hash: string;
  is_superuser: number;
  created_at: number;
}

/** client-id allow-list */
export interface ClientIdTable {
  clientid: string;
  created_at: number;
}

/** runtime settings changed through the API; they win over emqx.conf */
export interface SettingTable {
  key: string;
  /** JSON */
  value: string;
  updated_at: number;
}

export interface Database {
  mqtt_user: MqttUserTable;
  mqtt_clientid: ClientIdTable;
  setting: SettingTable;
  // ---- management plane (server/api), migrations/0003_admin.ts ----
  /** dashboard/API administrators; created by migrations/0003_admin.ts */
  admin_user: {
    username: string;
    /** scrypt$N$r$p$salt$hash (server/passwords.ts), never the clear password */
    password_hash: string;
    description: string;
    created_at: number;
    updated_at: number;
  };
  /** API keys for scripts (Authorization: Basic key:secret) */
  api_key: {
    name: string;
    api_key: string;
    /** sha256 of the secret: secrets are 256 random bits, so a slow hash adds nothing */
    secret_hash: string;
    description: string;
    enabled: number;
    /** ms since epoch, null = never expires */
    expired_at: number | null;
    created_at: number;
    last_used_at: number | null;
  };
}

export type { Generated };
