'use client';

import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { can, useSession } from '../lib/session';

export function Nav() {
  const path = usePathname();
  const session = useSession();
  const links = [
    { href: '/', label: 'Locks', active: path === '/' || path.startsWith('/locks') },
    { href: '/sources', label: 'Sources', active: path.startsWith('/sources') },
    { href: '/alerts', label: 'Alerts', active: path.startsWith('/alerts') },
    { href: '/safety', label: 'Safety', active: path.startsWith('/safety') },
    { href: '/audit', label: 'Audit', active: path.startsWith('/audit') },
    ...(can(session.data, 'admin') ? [{ href: '/tokens', label: 'Tokens', active: path.startsWith('/tokens') }] : []),
  ];
  return (
    <nav aria-label="Main">
      {links.map((l) => (
        <Link key={l.href} href={l.href} aria-current={l.active ? 'page' : undefined}>
          {l.label}
        </Link>
      ))}
    </nav>
  );
}
