'use client';

import { useEffect, useState } from 'react';
import { REFRESH_MS } from '../app/providers';

/** "updated N s ago" for a query's dataUpdatedAt, ticking every second; flagged when it falls well behind. */
export function UpdatedAgo({ at, fetching, failing }: { at: number; fetching: boolean; failing: boolean }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  if (!at) return <span className="updated">{fetching ? 'loading…' : ''}</span>;
  const seconds = Math.max(0, Math.round((now - at) / 1000));
  const stale = failing || now - at > REFRESH_MS * 3;
  const hidden = typeof document !== 'undefined' && document.visibilityState === 'hidden';
  return (
    <span className={`updated ${stale ? 'stale' : ''}`} data-testid="updated-ago" aria-live="off">
      updated {seconds} s ago{failing ? ' (refresh failing)' : ''}
      {hidden ? ' (paused while hidden)' : ''}
    </span>
  );
}
