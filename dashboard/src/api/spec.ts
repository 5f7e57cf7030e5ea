// Types of the API contract, generated from api-spec/openapi.yaml by openapi-typescript
// (`npm run typecheck` regenerates dashboard/types/spec.gen.ts; it is not committed).
import type { components } from '../../types/spec.gen.ts';

export type Schemas = components['schemas'];

let served: Promise<Record<string, unknown>> | null = null;
/** the node's own OpenAPI document (/api-docs/openapi.json), fetched once */
export function servedSpec(): Promise<Record<string, unknown>> {
  served ??= fetch(new URL('api-docs/openapi.json', document.baseURI)).then(async (res) => {
    if (!res.ok) throw new Error(`the API description could not be loaded (HTTP ${res.status})`);
    return (await res.json()) as Record<string, unknown>;
  });
  served.catch(() => (served = null));
  return served;
}

/** the value at a path of the served spec, e.g. ['components', 'schemas', 'HookCreate', ...] */
export function pick(doc: unknown, path: string[]): unknown {
  let v = doc;
  for (const p of path) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}
