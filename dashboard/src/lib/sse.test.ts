import { describe, expect, it } from 'vitest';
import { createSseParser } from './sse.ts';

describe('server-sent events parser', () => {
  it('returns complete events and keeps a partial one for the next chunk', () => {
    const parse = createSseParser();
    expect(parse('retry: 1000\n\nevent: monitor\ndata: {"a"')).toEqual([]);
    expect(parse(':1}\n\nevent: monitor\ndata: 2\n\n')).toEqual([
      { event: 'monitor', data: '{"a":1}' },
      { event: 'monitor', data: '2' },
    ]);
  });

  it('joins multi-line data, ignores comments and accepts CRLF', () => {
    const parse = createSseParser();
    expect(parse(': keep-alive\r\ndata: a\r\ndata: b\r\n\r\n')).toEqual([{ event: 'message', data: 'a\nb' }]);
  });
});
