import type { NextConfig } from 'next';

const config: NextConfig = {
  // Internal packages ship TypeScript source ("just-in-time" packages).
  transpilePackages: ['@lockscope/core', '@lockscope/store'],
  // Native or driver packages stay real node_modules at run time.
  serverExternalPackages: ['better-sqlite3', 'pg', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', '@prisma/client', '@datadog/sketches-js'],
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
        ],
      },
    ];
  },
};

export default config;
