// Serves the built dashboard (dashboard/dist) at dashboard.base_path. The build uses relative
// asset URLs and hash routing (/#/clients), so the same files work at / and under any sub-path a
// reverse proxy forwards, whether it strips the prefix or keeps it. With a base path set, the
// API is also answered at <base_path>/api/v5 (and /api-docs), so one proxy rule covers both.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import type Koa from 'koa';

export const DEFAULT_DASHBOARD_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dashboard/dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map', '.txt']);

/** /tern/api/v5/... → /api/v5/... when dashboard.base_path is /tern (read per request: reloadable) */
export function stripBasePath(basePath: () => string): Koa.Middleware {
  return async (ctx, next) => {
    const base = basePath();
    if (base !== '/' && ctx.path.startsWith(base + '/')) {
      const rest = ctx.path.slice(base.length);
      if (rest.startsWith('/api/') || rest === '/api-docs' || rest.startsWith('/api-docs/')) ctx.path = rest;
    }
    return next();
  };
}

export function dashboardStatic(opts: { dir?: string; basePath: () => string; apiBase: string }): Koa.Middleware {
  const dir = opts.dir ?? DEFAULT_DASHBOARD_DIR;
  // gzip once per file version; the build is a few hundred KB
  const gzCache = new Map<string, { mtimeMs: number; body: Buffer }>();

  const send = (ctx: Koa.Context, file: string, stat: fs.Stats, cache: string) => {
    const ext = path.extname(file);
    ctx.status = 200;
    ctx.type = TYPES[ext] ?? 'application/octet-stream';
    ctx.set('Cache-Control', cache);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.vary('Accept-Encoding');
    if (COMPRESSIBLE.has(ext) && ctx.acceptsEncodings('gzip', 'identity') === 'gzip') {
      let gz = gzCache.get(file);
      if (!gz || gz.mtimeMs !== stat.mtimeMs) {
        gz = { mtimeMs: stat.mtimeMs, body: zlib.gzipSync(fs.readFileSync(file), { level: 9 }) };
        gzCache.set(file, gz);
      }
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = gz.body;
    } else {
      ctx.body = fs.readFileSync(file);
    }
  };

  return async (ctx, next) => {
    await next();
    if (ctx.status !== 404 || ctx.body != null) return;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return;
    const base = opts.basePath();
    const prefix = base === '/' ? '' : base;
    if (prefix && (ctx.path === prefix || ctx.path === '/')) {
      ctx.redirect(prefix + '/');
      return;
    }
    if (!ctx.path.startsWith(prefix + '/')) return;
    const rel = ctx.path.slice(prefix.length);
    if (rel.startsWith(opts.apiBase + '/') || rel === opts.apiBase) return;

    const index = path.join(dir, 'index.html');
    let decoded: string;
    try {
      decoded = decodeURIComponent(rel);
    } catch {
      return; // malformed %-escape: not a file of ours
    }
    let file = path.resolve(dir, '.' + decoded);
    if (!file.startsWith(dir + path.sep) && file !== dir) return;
    let stat = statOrUndefined(file);
    if (stat?.isDirectory()) {
      file = path.join(file, 'index.html');
      stat = statOrUndefined(file);
    }
    if (stat?.isFile()) {
      const immutable = rel.startsWith('/assets/');
      send(ctx, file, stat, immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      return;
    }
    // Hash routes (/#/clients) need no fallback: only the root is the app, anything else missing
    // stays the API's JSON 404.
    if (rel !== '/') return;
    ctx.status = 503;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `The dashboard is not built (${index} is missing). npm start builds it; or run: npm run build:dashboard\n`;
  };
}

function statOrUndefined(file: string): fs.Stats | undefined {
  try {
    return fs.statSync(file);
  } catch {
    return undefined;
  }
}
