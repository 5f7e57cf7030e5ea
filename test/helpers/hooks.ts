// A Tern with its API and a webhook receiver, for the webhook tests: both closed after the body.
import assert from 'node:assert/strict';
import { startTernApi, type TernApi } from './api-helpers.ts';
import { testConfig } from './tern.ts';
import { startReceiver, type Receiver } from './receiver.ts';

export async function withHookTern(fn: (t: TernApi, rx: Receiver) => Promise<void>, mutate?: Parameters<typeof testConfig>[0]): Promise<void> {
  const rx = await startReceiver();
  const t = await startTernApi(testConfig(mutate));
  try {
    await fn(t, rx);
  } finally {
    await t.close();
    await rx.close();
  }
}

/** POST /api/v5/hooks, which must answer 201 */
export async function createHook(t: TernApi, body: Record<string, unknown>): Promise<{ id: number } & Record<string, unknown>> {
  const res = await t.http.post('/api/v5/hooks').set(t.auth).send(body);
  assert.equal(res.status, 201, res.text);
  return res.body as { id: number };
}
