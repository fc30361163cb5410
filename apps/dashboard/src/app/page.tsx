import { Suspense } from 'react';
import { Loading } from '../components/states';
import { OverviewView } from '../components/overview-view';

export default function OverviewPage() {
  return (
    <Suspense fallback={<Loading what="overview" />}>
      <OverviewView />
    </Suspense>
  );
}
