'use client';

import { useId, useState } from 'react';
import { shorten, visible } from '../lib/untrusted';

export { visible };

/**
 * Text that came from a lock backend (names, holders, tokens): always rendered
 * as text, never as HTML; invisible characters made visible; long values
 * shortened, with the full value one click (or Enter) away.
 */
export function UntrustedText({ value, max = 48, className }: { value: string | null | undefined; max?: number; className?: string }) {
  const [open, setOpen] = useState(false);
  const id = useId();
  if (value === null || value === undefined) return <span className="muted">—</span>;
  const shown = visible(value);
  const short = shorten(shown, max);
  const truncated = short !== shown;
  return (
    <span className={`untrusted ${className ?? ''}`} data-full-length={value.length}>
      <span title={truncated ? undefined : shown}>{short}</span>
      {truncated && (
        <>
          {' '}
          <button type="button" className="link" aria-expanded={open} aria-controls={id} onClick={() => setOpen((o) => !o)}>
            {open ? 'less' : `all ${value.length.toLocaleString()} chars`}
          </button>
          {open && (
            <code id={id} className="full-value">
              {shown}
            </code>
          )}
        </>
      )}
    </span>
  );
}

/**
 * An alert message in full, wrapped at word boundaries (and inside a very long name):
 * Lockscope writes it and already caps the backend values in it, so cutting it would
 * only hide the end of a sentence. Still rendered as text with invisibles made visible.
 */
export function AlertMessage({ text }: { text: string }) {
  return <span className="alert-message">{visible(text)}</span>;
}
