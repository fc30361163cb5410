import Link from 'next/link';

export default function NotFound() {
  return (
    <div className="state">
      <h2>Page not found</h2>
      <p>
        <Link href="/">Back to the lock overview</Link>
      </p>
    </div>
  );
}
