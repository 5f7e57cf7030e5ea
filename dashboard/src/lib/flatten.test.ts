import { describe, expect, it } from 'vitest';
import { flatten } from './flatten.ts';
import { ApiError, buildQuery, errorText } from '../api/http.ts';

describe('config flattening', () => {
  it('turns nested objects into dotted keys, keeps scalar arrays, indexes object arrays from 1', () => {
    expect(flatten({ node: { name: 'n' }, auth: { clientids: ['a', 'b'] }, listeners: [{ proto: 'tcp' }, { proto: 'ws' }], x: null })).toEqual([
      ['node.name', 'n'],
      ['auth.clientids', ['a', 'b']],
      ['listeners.1.proto', 'tcp'],
      ['listeners.2.proto', 'ws'],
      ['x', null],
    ]);
  });
});

describe('API helpers', () => {
  it('builds a query string without empty values', () => {
    expect(buildQuery({ a: 1, b: '', c: undefined, d: null, e: false, f: 'x y' })).toBe('?a=1&e=false&f=x+y');
    expect(buildQuery({})).toBe('');
  });

  it('tells a missing route (feature not on the node) from a missing resource', () => {
    expect(new ApiError(404, 'NOT_FOUND', 'no route GET /api/v5/hooks').unavailable).toBe(true);
    expect(new ApiError(404, 'NOT_FOUND', 'hook h1 not found').unavailable).toBe(false);
    expect(new ApiError(404, 'CLIENTID_NOT_FOUND', 'no route').unavailable).toBe(false);
  });

  it('words an error with its code and status', () => {
    expect(errorText(new ApiError(400, 'BAD_REQUEST', 'body.qos must be <= 2'))).toBe('body.qos must be <= 2 (BAD_REQUEST, HTTP 400)');
    expect(errorText(new ApiError(0, 'NETWORK', 'The node cannot be reached'))).toBe('The node cannot be reached');
    expect(errorText(new Error('x'))).toBe('x');
  });
});
