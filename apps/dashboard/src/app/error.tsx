'use client';

export default function PageError({ error, reset }: { error: Error; reset: () => void }) {
  return (
    <div className="state error" role="alert">
      <h2>Something went wrong on this page</h2>
      <p>
        <code>{error.message}</code>
      </p>
      <button type="button" onClick={reset}>
        Try again
      </button>
    </div>
  );
}
