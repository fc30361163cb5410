import type { Metadata } from 'next';
import Link from 'next/link';
import type { ReactNode } from 'react';
import { Nav } from '../components/nav';
import { SessionBadge } from '../components/session-badge';
import { Providers } from './providers';
import './globals.css';

export const metadata: Metadata = {
  title: 'Lockscope',
  description: 'Distributed lock health',
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <Providers>
          <header className="top">
            <Link className="brand" href="/">
              Lockscope
            </Link>
            <Nav />
            <SessionBadge />
          </header>
          <main id="main">{children}</main>
        </Providers>
      </body>
    </html>
  );
}
