import { Suspense } from 'react';
import { LockDetailView } from '../../../components/lock-detail-view';
import { Loading } from '../../../components/states';

export default async function LockPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return (
    <Suspense fallback={<Loading what="lock" />}>
      <LockDetailView id={decodeURIComponent(id)} />
    </Suspense>
  );
}
