// api-spec/openapi.yaml, loaded once per process and turned into per-operation validators.
// The spec is the contract: a route the code registers must exist here (app.ts refuses to start
// otherwise), every request is checked against it, and the tests check responses against it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { TernError } from '../errors.ts';

// ajv-formats is CommonJS with a default export; under NodeNext its type is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

export const DEFAULT_SPEC_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../api-spec/openapi.yaml');

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export interface SecuritySchemes {
  /** no credentials needed */
  public: boolean;
  bearer: boolean;
  basic: boolean;
}

export interface ValidatedInput {
  params: Record<string, unknown>;
  query: Record<string, unknown>;
  body: unknown;
}

export interface Operation {
  method: HttpMethod;
  /** OpenAPI form, relative to the server url: /clients/{clientid} */
  path: string;
  operationId: string;
  security: SecuritySchemes;
  hasBody: boolean;
  /** status code → content schema (undefined for a response without a body) */
  responses: Map<string, JsonObject | undefined>;
  /** throws TernError 400 naming the field; returns coerced, defaulted copies */
  validate(raw: { params: Record<string, string>; query: Record<string, unknown>; body: unknown }): ValidatedInput;
  /** the raw OpenAPI operation object, resolved */
  raw: JsonObject;
}

export interface ApiSpec {
  file: string;
  doc: JsonObject;
  /** base path from servers[0].url, e.g. /api/v5 */
  basePath: string;
  operations: Operation[];
  find(method: string, path: string): Operation | undefined;
  /** a validator for the response body of (method, path, status), falling back to the operation's
   * `default` response; undefined when neither is documented */
  responseValidator(method: string, path: string, status: number): ((body: unknown) => string | undefined) | undefined;
  /** a validator for components/schemas/<name>, e.g. Error */
  schemaValidator(name: string): (body: unknown) => string | undefined;
  /** the spec as JSON text (served at /api-docs/openapi.json) */
  json: string;
  yaml: string;
}

const SPEC_ID = 'tern-openapi';

const cache = new Map<string, ApiSpec>();

/** Loads and compiles the spec; cached per file, since it is immutable for the process. */
export function loadSpec(file: string = DEFAULT_SPEC_FILE): ApiSpec {
  const hit = cache.get(file);
  if (hit) return hit;
  const spec = compileSpec(file);
  cache.set(file, spec);
  return spec;
}

function newAjv(opts: { coerce: boolean; defaults: boolean; validateSchema: boolean }): Ajv2020 {
  const ajv = new Ajv2020({
    validateSchema: opts.validateSchema,
    strict: true,
    allowUnionTypes: true,
    allErrors: false,
    verbose: true,
    coerceTypes: opts.coerce ? 'array' : false,
    useDefaults: opts.defaults,
    // each component schema compiles once and is shared: much faster start-up than inlining
    inlineRefs: false,
  });
  addFormats(ajv);
  // OpenAPI annotations that are not JSON Schema keywords, plus our own x-message (a readable
  // message for a failed `pattern`).
  for (const keyword of ['example', 'xml', 'externalDocs', 'discriminator', 'x-message']) ajv.addKeyword({ keyword });
  return ajv;
}

function compileSpec(file: string): ApiSpec {
  const yamlText = fs.readFileSync(file, 'utf8');
  const doc = parseYaml(yamlText) as JsonObject;
  const components = (doc.components ?? {}) as JsonObject;

  // Only schemas are handed to ajv; parameters, responses and request bodies are OpenAPI objects
  // resolved here. Component schemas are registered under SPEC_ID's $defs (ajv compiles the root
  // of a registered schema, so they cannot stay under "components"), and every
  // "#/components/schemas/X" ref is rewritten to point there.
  const defs = withBase((components.schemas ?? {}) as JsonObject);
  const specAjv = (opts: Parameters<typeof newAjv>[0]) => {
    const ajv = newAjv(opts);
    ajv.addSchema({ $id: SPEC_ID, $defs: defs } as object);
    // one function per distinct schema (many operations share e.g. {$ref: Error})
    const compiled = new Map<string, ValidateFunction>();
    return (schema: JsonObject): ValidateFunction => {
      const key = JSON.stringify(schema);
      let fn = compiled.get(key);
      if (!fn) compiled.set(key, (fn = ajv.compile(schema)));
      return fn;
    };
  };
  // Checking the spec against the JSON Schema meta-schema is slow; the response validator (used by
  // the tests) does it, and strict mode catches the rest at start-up.
  const compileRequest = specAjv({ coerce: false, defaults: true, validateSchema: false });
  const compileParams = specAjv({ coerce: true, defaults: true, validateSchema: false });
  let compileResponse: ((schema: JsonObject) => ValidateFunction) | undefined;

  const deref = <T extends Json>(node: T): T => {
    let cur: Json = node;
    for (let i = 0; i < 10 && cur && typeof cur === 'object' && !Array.isArray(cur) && typeof cur.$ref === 'string'; i++) {
      cur = pointer(doc, cur.$ref as string);
    }
    return cur as T;
  };

  const globalSecurity = (doc.security ?? []) as JsonObject[];
  const basePath = String(((doc.servers as JsonObject[] | undefined)?.[0]?.url as string | undefined) ?? '').replace(/\/$/, '');

  const operations: Operation[] = [];
  const paths = (doc.paths ?? {}) as Record<string, JsonObject>;
  for (const [p, item] of Object.entries(paths)) {
    const shared = ((item.parameters ?? []) as Json[]).map((x) => deref(x) as JsonObject);
    for (const method of HTTP_METHODS) {
      const op = item[method] as JsonObject | undefined;
      if (!op) continue;
      const own = ((op.parameters ?? []) as Json[]).map((x) => deref(x) as JsonObject);
      const params = new Map<string, JsonObject>();
      for (const prm of [...shared, ...own]) params.set(`${prm.in}:${prm.name}`, prm);

      const securityReq = (op.security ?? globalSecurity) as JsonObject[];
      const security: SecuritySchemes = {
        public: securityReq.length === 0 || securityReq.some((r) => Object.keys(r).length === 0),
        bearer: securityReq.some((r) => 'bearerAuth' in r),
        basic: securityReq.some((r) => 'basicAuth' in r),
      };

      const validators: { where: 'path' | 'query'; fn: ValidateFunction; defaults: [string, Json][] }[] = [];
      for (const where of ['path', 'query'] as const) {
        const list = [...params.values()].filter((x) => x.in === where);
        if (list.length === 0) continue;
        const properties: JsonObject = {};
        const required: string[] = [];
        const defaults: [string, Json][] = [];
        for (const prm of list) {
          const schema = (prm.schema ?? {}) as JsonObject;
          properties[prm.name as string] = schema;
          if (prm.required) required.push(prm.name as string);
          if (schema.default !== undefined) defaults.push([prm.name as string, schema.default]);
        }
        // Unknown query parameters are ignored, as EMQX does, so extra flags from old scripts pass.
        const fn = compileParams({ type: 'object', properties, required });
        validators.push({ where, fn, defaults });
      }

      const body = op.requestBody ? (deref(op.requestBody) as JsonObject) : undefined;
      const bodySchema = ((body?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as
        | JsonObject
        | undefined;
      const bodyFn = bodySchema ? compileRequest(withBase(bodySchema)) : undefined;
      const bodyRequired = body?.required === true;

      const responses = new Map<string, JsonObject | undefined>();
      for (const [status, r] of Object.entries((op.responses ?? {}) as JsonObject)) {
        const resp = deref(r) as JsonObject;
        const schema = ((resp.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as
          | JsonObject
          | undefined;
        responses.set(status, schema);
      }

      operations.push({
        method,
        path: p,
        operationId: String(op.operationId ?? `${method} ${p}`),
        security,
        hasBody: !!bodySchema,
        responses,
        raw: op,
        validate(raw) {
          const out: ValidatedInput = { params: { ...raw.params }, query: { ...raw.query }, body: raw.body };
          for (const v of validators) {
            const data = v.where === 'path' ? out.params : out.query;
            for (const [name, value] of v.defaults) if (data[name] === undefined) data[name] = structuredClone(value);
            if (!v.fn(data)) throw validationError(v.where, v.fn.errors);
          }
          if (bodyFn) {
            if (out.body === undefined && !bodyRequired) return out;
            // Validate a copy: defaults are written into it, the caller's object stays as sent.
            out.body = structuredClone(out.body);
            if (!bodyFn(out.body)) throw validationError('body', bodyFn.errors);
          }
          return out;
        },
      });
    }
  }

  const byKey = new Map(operations.map((o) => [`${o.method} ${o.path}`, o]));
  // Response validators are for the tests; the first use compiles all of them, so a mistake in
  // any response schema fails the first test that checks a response.
  const responseFns = new Map<string, ValidateFunction | null>();
  const responseAjv = () => {
    if (!compileResponse) {
      compileResponse = specAjv({ coerce: false, defaults: false, validateSchema: true });
      for (const op of operations) {
        for (const [status, schema] of op.responses) {
          responseFns.set(`${op.method} ${op.path} ${status}`, schema ? compileResponse(withBase(schema)) : null);
        }
      }
    }
    return compileResponse;
  };

  return {
    file,
    doc,
    basePath,
    operations,
    find: (method, p) => byKey.get(`${method.toLowerCase()} ${p}`),
    responseValidator(method, p, status) {
      const op = byKey.get(`${method.toLowerCase()} ${p}`);
      if (!op) return undefined;
      const key = op.responses.has(String(status)) ? String(status) : 'default';
      if (!op.responses.has(key)) return undefined;
      const schema = op.responses.get(key);
      responseAjv();
      const compiled = responseFns.get(`${op.method} ${op.path} ${key}`) ?? (schema ? responseAjv()(withBase(schema)) : null);
      return (bodyValue: unknown) => {
        if (!compiled) {
          const empty = bodyValue === undefined || bodyValue === '' || (typeof bodyValue === 'object' && bodyValue !== null && Object.keys(bodyValue).length === 0);
          return empty ? undefined : `response ${status} has no body in the spec, got ${JSON.stringify(bodyValue).slice(0, 200)}`;
        }
        if (compiled(bodyValue)) return undefined;
        return (compiled.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} (${e.schemaPath})`).join('; ');
      };
    },
    schemaValidator(name) {
      if (!(defs as JsonObject)[name]) throw new Error(`no schema ${name} in ${file}`);
      const fn = responseAjv()({ $ref: `${SPEC_ID}#/$defs/${name}` });
      return (value: unknown) => (fn(value) ? undefined : (fn.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; '));
    },
    json: JSON.stringify(doc),
    yaml: yamlText,
  };
}

const SCHEMA_REF = '#/components/schemas/';

/** A schema fragment whose "#/components/schemas/X" refs point at SPEC_ID's $defs. */
function withBase(schema: JsonObject): JsonObject {
  const rewrite = (node: Json): Json => {
    if (Array.isArray(node)) return node.map(rewrite);
    if (node && typeof node === 'object') {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(node)) {
        if (k === '$ref' && typeof v === 'string') {
          if (!v.startsWith(SCHEMA_REF)) throw new Error(`a schema may only $ref ${SCHEMA_REF}*: ${v}`);
          out[k] = `${SPEC_ID}#/$defs/${v.slice(SCHEMA_REF.length)}`;
        } else out[k] = rewrite(v);
      }
      return out;
    }
    return node;
  };
  return rewrite(schema) as JsonObject;
}

function pointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`only local $ref is supported in the API spec: ${ref}`);
  let cur: Json = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!cur || typeof cur !== 'object' || Array.isArray(cur) || !(key in cur)) throw new Error(`unresolvable $ref in the API spec: ${ref}`);
    cur = cur[key]!;
  }
  return cur;
}

/** `body.qos must be <= 2`, `query.limit must be integer`, `body.topic is required` */
export function formatValidationError(where: string, e: ErrorObject): string {
  const segments = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let field = where;
  for (const s of segments) field += /^\d+$/.test(s) ? `[${s}]` : `.${s}`;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return `${field}.${String(params.missingProperty)} is required`;
    case 'additionalProperties':
      return `${field}.${String(params.additionalProperty)} is not allowed`;
    case 'unevaluatedProperties':
      return `${field}.${String(params.unevaluatedProperty)} is not allowed`;
    case 'enum':
      return `${field} must be one of: ${(params.allowedValues as unknown[]).map((v) => String(v)).join(', ')}`;
    case 'const':
      return `${field} must be ${JSON.stringify(params.allowedValue)}`;
    case 'type':
      return `${field} must be ${Array.isArray(params.type) ? params.type.join(' or ') : String(params.type)}`;
    case 'pattern': {
      const custom = (e.parentSchema as Record<string, unknown> | undefined)?.['x-message'];
      return `${field} ${typeof custom === 'string' ? custom : (e.message ?? 'is invalid')}`;
    }
    case 'minProperties':
      return `${field} must name at least ${String(params.limit)} field${params.limit === 1 ? '' : 's'}`;
    default:
      return `${field} ${e.message ?? 'is invalid'}`;
  }
}

function validationError(where: string, errors: ErrorObject[] | null | undefined): TernError {
  const e = errors?.[0];
  return new TernError('BAD_REQUEST', e ? formatValidationError(where, e) : `${where} is invalid`, 400);
}

/** /clients/{clientid} → /clients/:clientid, with path-to-regexp's special characters escaped */
export function toKoaPath(openapiPath: string): string {
  return openapiPath
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') && part.endsWith('}') ? `:${part.slice(1, -1)}` : part.replace(/[:()[\]?+!*{}\\]/g, '\\$&')))
    .join('');
}

/** the reverse of toKoaPath, for comparing the router's table with the spec */
export function fromKoaPath(koaPath: string): string {
  return koaPath.replace(/(?<!\\):([A-Za-z0-9_]+)/g, '{$1}').replace(/\\(.)/g, '$1');
}
