// /api-docs: swagger-ui-dist's static files plus our own initializer pointing at the spec.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import type Koa from 'koa';
import type { ApiSpec } from './spec.ts';

const require = createRequire(import.meta.url);
const swaggerDir = (require('swagger-ui-dist/absolute-path.js') as () => string)();

const TYPES: Record<string, string> = {
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.html': 'text/html; charset=utf-8',
  '.map': 'application/json',
};

const INDEX = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Tern API</title>
  <link rel="stylesheet" href="./swagger-ui.css">
  <link rel="icon" type="image/png" href="./favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="./swagger-ui-bundle.js"></script>
  <script src="./swagger-ui-standalone-preset.js"></script>
  <script src="./swagger-initializer.js"></script>
</body>
</html>
`;

const INITIALIZER = `window.onload = function () {
  window.ui = SwaggerUIBundle({
    url: './openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: 'StandaloneLayout',
  });
};
`;

export function apiDocs(spec: ApiSpec, mount = '/api-docs'): Koa.Middleware {
  // Only files that exist at start-up are served: no path from the URL reaches the filesystem.
  const files = new Set(fs.readdirSync(swaggerDir).filter((f) => f in TYPES || path.extname(f) in TYPES));
  return async (ctx, next) => {
    if (ctx.path !== mount && !ctx.path.startsWith(`${mount}/`)) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    if (ctx.path === mount) return ctx.redirect(`${mount}/`);
    const name = ctx.path.slice(mount.length + 1) || 'index.html';
    switch (name) {
      case 'index.html':
        ctx.type = 'text/html; charset=utf-8';
        ctx.body = INDEX;
        return;
      case 'swagger-initializer.js':
        ctx.type = TYPES['.js']!;
        ctx.body = INITIALIZER;
        return;
      case 'openapi.json':
        ctx.type = 'application/json';
        ctx.body = spec.json;
        return;
      case 'openapi.yaml':
        ctx.type = 'application/yaml; charset=utf-8';
        ctx.body = spec.yaml;
        return;
    }
    if (!files.has(name)) return next();
    ctx.type = TYPES[path.extname(name)]!;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = fs.createReadStream(path.join(swaggerDir, name));
  };
}
