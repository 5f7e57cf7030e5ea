// The contract, both ways, against the whole Tern: every operation in api-spec/openapi.yaml is
// called with its documented example input and its real answer must match the documented
// response; and the running app's route table must equal the spec's operations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTernApi } from '../helpers/api-helpers.ts';
import { connect, endAll } from '../helpers/tern.ts';
import { fromKoaPath, loadSpec, type Operation } from '../../server/api/spec.ts';

const spec = loadSpec();

type Json = Record<string, unknown>;

/** the example of a path parameter, from the operation or its path item */
function paramExample(op: Operation, name: string): string {
  const item = (spec.doc.paths as Record<string, Json>)[op.path]!;
  const params = [...((item.parameters as Json[]) ?? []), ...((op.raw.parameters as Json[]) ?? [])].map((p) => {
    const ref = p.$ref as string | undefined;
    return ref ? ((spec.doc.components as Json).parameters as Record<string, Json>)[ref.split('/').pop()!]! : p;
  });
  const p = params.find((x) => x.in === 'path' && x.name === name);
  assert.ok(p && p.example !== undefined, `${op.operationId}: path parameter ${name} needs an example in the spec`);
  return String(p.example);
}

function bodyExample(op: Operation): unknown {
  const body = op.raw.requestBody as Json | undefined;
  if (!body) return undefined;
  const media = (body.content as Record<string, Json>)['application/json']!;
  assert.ok(media.example !== undefined, `${op.operationId}: the request body needs an example in the spec`);
  return media.example;
}

// Creates before reads, reads before deletes; logout last, since it ends the session used here.
const ORDER: Record<string, number> = { post: 0, put: 1, get: 2, delete: 3 };
const rank = (op: Operation) => (op.operationId === 'logout' ? 9 : ORDER[op.method]!);

test('every operation of the spec answers as the spec says, and the app serves exactly the spec', async () => {
  const t = await startTernApi();
  // the fixture the examples refer to: a persistent client "sensor-1" with a queued message
  const sensor = await connect(t.mqttUrl(), { clientId: 'sensor-1', clean: false });
  await sensor.subscribeAsync('sensors/#', { qos: 1 });
  // the retained message the retainer examples name
  await sensor.publishAsync('sensors/1/state', 'on', { qos: 1, retain: true });
  try {
    // route table ⇔ spec
    const inCode = new Set<string>();
    for (const layer of t.tern.api.apiRouter.stack) {
      for (const m of layer.methods) if (m !== 'HEAD') inCode.add(`${m.toLowerCase()} ${fromKoaPath(String(layer.path)).slice(spec.basePath.length)}`);
    }
    const inSpec = new Set(spec.operations.map((o) => `${o.method} ${o.path}`));
    assert.deepEqual([...inCode].filter((r) => !inSpec.has(r)), [], 'routes in code but not in the spec');
    assert.deepEqual([...inSpec].filter((r) => !inCode.has(r)), [], 'spec operations without a route');

    // no credentials: 401 everywhere but the public operations
    for (const op of spec.operations) {
      if (op.security.public) continue;
      const url = spec.basePath + op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(paramExample(op, n)));
      const res = await t.http[op.method](url);
      assert.equal(res.status, 401, `${op.method.toUpperCase()} ${op.path} without credentials`);
      assert.equal(spec.schemaValidator('Error')(res.body), undefined);
    }

    const ops = [...spec.operations].sort((a, b) => rank(a) - rank(b));
    const answered: string[] = [];
    for (const op of ops) {
      if (op.operationId === 'getClientMqueueMessages') {
        // go offline so the example has a queued message to list
        await endAll(sensor);
        await t.http.post('/api/v5/publish').set(t.auth).send({ topic: 'sensors/9/temperature', payload: '19.0', qos: 1 });
      }
      let url = spec.basePath + op.path.replace(/\{(\w+)\}/g, (_, n: string) => encodeURIComponent(paramExample(op, n)));
      // a stream ends only when asked to
      if (op.operationId === 'streamMonitor') url += '?count=1';
      let req = t.http[op.method](url).set(t.auth);
      const body = bodyExample(op);
      if (body !== undefined) req = req.send(body as object);
      const res = await req;
      const label = `${op.method.toUpperCase()} ${op.path} (${op.operationId}) → ${res.status} ${res.text.slice(0, 300)}`;
      assert.ok(res.status >= 200 && res.status < 300, label);
      assert.ok(op.responses.has(String(res.status)), `undocumented status: ${label}`);
      const validate = spec.responseValidator(op.method, op.path, res.status);
      assert.ok(validate);
      assert.equal(validate(res.status === 204 ? undefined : res.body), undefined, `response does not match the spec: ${label}`);
      if (res.status === 204) assert.equal(res.text, '', label);
      answered.push(op.operationId);
    }
    assert.equal(answered.length, spec.operations.length);
  } finally {
    await endAll(sensor);
    await t.close();
  }
});
