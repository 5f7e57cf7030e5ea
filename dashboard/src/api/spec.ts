// Types of the API contract, generated from api-spec/openapi.yaml by openapi-typescript
// (`npm run typecheck` regenerates dashboard/types/spec.gen.ts; it is not committed). The
// endpoints of features a node may not have yet (hooks, ACL, banned, reload, audit) keep
// hand-written shapes in their modules until their routes are in the spec.
import type { components } from '../../types/spec.gen.ts';

export type Schemas = components['schemas'];
