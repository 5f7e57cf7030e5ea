// EMQX 4's acl.conf: Erlang terms, one rule per term, each ended by a ".":
//
//   {allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.
//   {allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.
//   {deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
//   {allow, all}.
//
// No maintained npm package parses Erlang terms (the few there are target the external binary
// format, not source text), and the subset acl.conf uses is small: atoms (bare or 'quoted'),
// "strings", integers, {tuples} and [lists], with % comments. So a tokenizer and a recursive
// parser live here, each term keeping its line so every complaint names file:line and what was
// expected there.
import fs from 'node:fs';
import { ConfigError } from '../../config/errors.ts';
import { filterProblem, parseCidr, topicPattern, type Access, type AclRule, type TopicPattern, type Who } from './acl-rules.ts';

export interface AclRules {
  file: string;
  rules: AclRule[];
}

type Term =
  | { t: 'atom'; v: string; line: number }
  | { t: 'string'; v: string; line: number }
  | { t: 'int'; v: number; line: number }
  | { t: 'tuple'; v: Term[]; line: number }
  | { t: 'list'; v: Term[]; line: number };

type Token =
  | { k: 'punct'; v: '{' | '}' | '[' | ']' | ',' | '.'; line: number }
  | { k: 'atom' | 'string'; v: string; line: number }
  | { k: 'int'; v: number; line: number }
  | { k: 'eof'; line: number };

/** Reads and parses an acl.conf; throws ConfigError "<file>:<line>: expected ..." on the first problem. */
export function loadAclFile(file: string): AclRules {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read acl_file ${file}: ${(err as Error).message}`);
  }
  return { file, rules: parseAclText(text, file) };
}

export function parseAclText(text: string, file: string): AclRule[] {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const tokens = tokenize(text.replace(/^\uFEFF/, ''), file);
  const rules: AclRule[] = [];
  let pos = 0;
  /** where the rule being read starts: the end of the file inside a rule is blamed on it */
  let ruleLine = 0;
  const fail = (line: number, msg: string): never => {
    throw new ConfigError(`${file}:${line}: ${msg}`);
  };
  const lineOf = (tok: Token) => (tok.k === 'eof' && ruleLine > 0 ? ruleLine : tok.line);
  const describe = (tok: Token): string => {
    if (tok.k === 'eof') return 'the end of the file';
    if (tok.k === 'string') return JSON.stringify(tok.v);
    if (tok.k === 'punct') return `"${tok.v}"`;
    return String(tok.v);
  };

  function term(): Term {
    const tok = tokens[pos++]!;
    switch (tok.k) {
      case 'atom':
      case 'string':
        return { t: tok.k, v: tok.v, line: tok.line };
      case 'int':
        return { t: 'int', v: tok.v, line: tok.line };
      case 'punct':
        if (tok.v === '{' || tok.v === '[') {
          const close = tok.v === '{' ? '}' : ']';
          const items: Term[] = [];
          const next = tokens[pos]!;
          if (next.k === 'punct' && next.v === close) {
            pos++;
          } else {
            for (;;) {
              items.push(term());
              const sep = tokens[pos++]!;
              if (sep.k === 'punct' && sep.v === ',') continue;
              if (sep.k === 'punct' && sep.v === close) break;
              fail(lineOf(sep), `expected "," or "${close}", got ${describe(sep)}`);
            }
          }
          return { t: tok.v === '{' ? 'tuple' : 'list', v: items, line: tok.line };
        }
        return fail(tok.line, `expected a term (a tuple {...}, a list [...], an atom or a "string"), got ${describe(tok)}`);
      case 'eof':
        return fail(lineOf(tok), 'expected a term, got the end of the file');
    }
  }

  while (tokens[pos]!.k !== 'eof') {
    const start = tokens[pos]!;
    if (!(start.k === 'punct' && start.v === '{')) {
      fail(start.line, `expected a rule such as {allow, all}. or {deny, all, subscribe, ["#"]}., got ${describe(start)}`);
    }
    ruleLine = start.line;
    const t = term();
    const dot = tokens[pos++]!;
    if (!(dot.k === 'punct' && dot.v === '.')) fail(lineOf(dot), `expected "." after the rule that starts on line ${t.line}, got ${describe(dot)}`);
    const lastLine = dot.line;
    const source = lines.slice(t.line - 1, lastLine).join(' ').replace(/\s+/g, ' ').trim();
    rules.push(toRule(t, file, source, fail));
  }
  return rules;
}

function toRule(t: Term, file: string, text: string, fail: (line: number, msg: string) => never): AclRule {
  if (t.t !== 'tuple') return fail(t.line, 'expected a rule tuple {Permission, Who, Access, Topics} or {Permission, all}');
  const origin = { source: 'file' as const, file, line: t.line, text };
  const [p, who, access, topics] = t.v;
  if (!p || p.t !== 'atom' || (p.v !== 'allow' && p.v !== 'deny')) {
    return fail(p?.line ?? t.line, `expected allow or deny as the first element of the rule, got ${show(p)}`);
  }
  const permission = p.v;
  if (t.v.length === 2) {
    if (who!.t === 'atom' && who!.v === 'all') return { permission, who: { kind: 'all' }, access: 'pubsub', topics: undefined, origin };
    return fail(who!.line, `expected all in a two-element rule {${permission}, all}, got ${show(who)}`);
  }
  if (t.v.length !== 4) {
    return fail(t.line, `expected a rule of 4 elements {${permission}, Who, Access, Topics} (or {${permission}, all}), got ${t.v.length}`);
  }
  if (access!.t !== 'atom' || !['subscribe', 'publish', 'pubsub'].includes(access!.v)) {
    return fail(access!.line, `expected subscribe, publish or pubsub as the access, got ${show(access)}`);
  }
  return { permission, who: toWho(who!, fail), access: access!.v as Access, topics: toTopics(topics!, fail), origin };
}

function toWho(t: Term, fail: (line: number, msg: string) => never): Who {
  if (t.t === 'atom' && t.v === 'all') return { kind: 'all' };
  const expected =
    'expected who: all, {user, "name"}, {clientid, "id"}, {ipaddr, "10.0.0.0/8"}, {ipaddrs, ["..."]}, ' +
    "{'and', [...]} or {'or', [...]}";
  if (t.t !== 'tuple' || t.v.length !== 2 || t.v[0]!.t !== 'atom') return fail(t.line, `${expected}, got ${show(t)}`);
  const [k, v] = t.v as [Term & { t: 'atom' }, Term];
  switch (k.v) {
    case 'user':
    case 'username':
    case 'client':
    case 'clientid': {
      const kind = k.v.startsWith('user') ? 'user' : 'clientid';
      if (v.t === 'atom' && v.v === 'all') return { kind, value: true };
      if (v.t === 'tuple' && v.v.length === 2 && v.v[0]!.t === 'atom' && v.v[0]!.v === 're' && v.v[1]!.t === 'string') {
        try {
          return { kind, value: new RegExp(v.v[1]!.v) };
        } catch (err) {
          return fail(v.line, `expected a valid regular expression in {re, ...}: ${(err as Error).message}`);
        }
      }
      if (v.t !== 'string' || v.v === '') return fail(v.line, `expected a non-empty "string", all or {re, "regex"} in {${k.v}, ...}, got ${show(v)}`);
      return { kind, value: v.v };
    }
    case 'ipaddr': {
      const cidr = v.t === 'string' ? parseCidr(v.v) : undefined;
      if (!cidr) return fail(v.line, `expected an address or CIDR such as "127.0.0.1" or "10.0.0.0/8" in {ipaddr, ...}, got ${show(v)}`);
      return { kind: 'ipaddr', cidr };
    }
    case 'ipaddrs': {
      if (v.t !== 'list' || v.v.length === 0) return fail(v.line, `expected a non-empty list of addresses in {ipaddrs, [...]}, got ${show(v)}`);
      return {
        kind: 'ipaddrs',
        cidrs: v.v.map((x) => {
          const cidr = x.t === 'string' ? parseCidr(x.v) : undefined;
          return cidr ?? fail(x.line, `expected an address or CIDR such as "10.0.0.0/8" in {ipaddrs, [...]}, got ${show(x)}`);
        }),
      };
    }
    case 'and':
    case 'or': {
      if (v.t !== 'list' || v.v.length === 0) return fail(v.line, `expected a non-empty list of conditions in {'${k.v}', [...]}, got ${show(v)}`);
      return { kind: k.v, conds: v.v.map((c) => toWho(c, fail)) };
    }
  }
  return fail(t.line, `${expected}, got ${show(t)}`);
}

function toTopics(t: Term, fail: (line: number, msg: string) => never): TopicPattern[] {
  const items = t.t === 'list' ? t.v : t.t === 'string' || t.t === 'tuple' ? [t] : undefined;
  if (!items || items.length === 0) return fail(t.line, `expected a non-empty list of topics such as ["a/#", {eq, "#"}], got ${show(t)}`);
  return items.map((x) => {
    let text: Term | undefined = x;
    let eq = false;
    if (x.t === 'tuple') {
      if (x.v.length !== 2 || x.v[0]!.t !== 'atom' || x.v[0]!.v !== 'eq') return fail(x.line, `expected a topic "a/b/#" or {eq, "topic"}, got ${show(x)}`);
      text = x.v[1];
      eq = true;
    }
    if (!text || text.t !== 'string' || text.v === '') return fail(x.line, `expected a topic "a/b/#" or {eq, "topic"}, got ${show(x)}`);
    const problem = eq ? undefined : filterProblem(text.v);
    if (problem) return fail(x.line, `expected a topic filter: ${JSON.stringify(text.v)} ${problem}`);
    return topicPattern(text.v, eq);
  });
}

function show(t: Term | undefined): string {
  if (!t) return 'nothing';
  switch (t.t) {
    case 'atom':
      return /^[a-z][A-Za-z0-9_@]*$/.test(t.v) ? t.v : `'${t.v}'`;
    case 'string':
      return JSON.stringify(t.v);
    case 'int':
      return String(t.v);
    case 'tuple':
      return `{${t.v.map(show).join(', ')}}`;
    case 'list':
      return `[${t.v.map(show).join(', ')}]`;
  }
}

function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  let line = 1;
  let i = 0;
  const fail = (msg: string): never => {
    throw new ConfigError(`${file}:${line}: ${msg}`);
  };
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '%') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if ('{}[],'.includes(c)) {
      out.push({ k: 'punct', v: c as '{', line });
      i++;
    } else if (c === '.') {
      // a rule's end: followed by whitespace, a comment or the end of the file
      const next = text[i + 1];
      if (next !== undefined && !/[\s%]/.test(next)) fail(`expected whitespace or a new line after ".", got ${JSON.stringify(next)}`);
      out.push({ k: 'punct', v: '.', line });
      i++;
    } else if (c === '"' || c === "'") {
      const start = line;
      let v = '';
      i++;
      for (;;) {
        if (i >= text.length) {
          line = start;
          fail(`expected a closing ${c} for the ${c === '"' ? 'string' : 'quoted atom'} that starts here`);
        }
        const ch = text[i]!;
        if (ch === c) break;
        if (ch === '\n') line++;
        if (ch === '\\') {
          const e = text[i + 1];
          if (e === undefined) continue;
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
          continue;
        }
        v += ch;
        i++;
      }
      i++;
      out.push({ k: c === '"' ? 'string' : 'atom', v, line: start });
    } else if (/[a-z]/.test(c)) {
      const m = /^[a-z][A-Za-z0-9_@]*/.exec(text.slice(i, i + 256))!;
      out.push({ k: 'atom', v: m[0], line });
      i += m[0].length;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(text.slice(i, i + 32))!;
      out.push({ k: 'int', v: Number(m[0]), line });
      i += m[0].length;
    } else {
      fail(`expected a term ({ [ an atom, a "string" or a number), got ${JSON.stringify(c)}`);
    }
  }
  out.push({ k: 'eof', line });
  return out;
}
