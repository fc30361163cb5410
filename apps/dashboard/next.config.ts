import type { NextConfig } from 'next';

const dev = process.env.NODE_ENV === 'development';

/**
 * The App Router inlines its bootstrap and the RSC payload as <script> tags that
 * carry no nonce unless every page is rendered per request (a nonce needs
 * proxy.ts and dynamic rendering), so scripts need 'unsafe-inline'. What the
 * policy still holds: nothing loads or connects anywhere but this origin, no
 * eval, no plugins, no <base> rewrite, no framing, forms post only here.
 * recharts and React style props need inline styles. `next dev` needs eval
 * (React's dev tooling) and its hot-reload websocket; production gets neither.
 */
const contentSecurityPolicy = [
  "default-src 'self'",
  `script-src 'self' 'unsafe-inline'${dev ? " 'unsafe-eval'" : ''}`,
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  `connect-src 'self'${dev ? ' ws:' : ''}`,
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
  "form-action 'self'",
].join('; ');

const config: NextConfig = {
  // Internal packages ship TypeScript source ("just-in-time" packages).
  transpilePackages: ['@lockscope/core', '@lockscope/store', '@lockscope/sources'],
  // Native or driver packages stay real node_modules at run time.
  serverExternalPackages: ['better-sqlite3', 'pg', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', '@prisma/client', '@datadog/sketches-js', 'etcd3', '@grpc/grpc-js', 'ioredis'],
  // The internal packages import './x.js' for './x.ts' (ESM TypeScript). Turbopack in
  // Next 16.4 cannot map that (vercel/next.js#82945), so the scripts build with webpack.
  webpack(webpackConfig: { resolve: { extensionAlias?: Record<string, string[]> } }) {
    webpackConfig.resolve.extensionAlias = { '.js': ['.ts', '.tsx', '.js'], '.mjs': ['.mts', '.mjs'] };
    return webpackConfig;
  },
  poweredByHeader: false,
  reactStrictMode: true,
  typedRoutes: false,
  // `npm run typecheck` (tsc -p apps/dashboard) checks types; on two shared cores the build only compiles.
  typescript: { ignoreBuildErrors: true },
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          { key: 'Referrer-Policy', value: 'no-referrer' },
          { key: 'X-Frame-Options', value: 'DENY' },
          { key: 'Content-Security-Policy', value: contentSecurityPolicy },
        ],
      },
    ];
  },
};

export default config;
