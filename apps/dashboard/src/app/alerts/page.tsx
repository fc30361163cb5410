import { Suspense } from 'react';
import { AlertsView } from '../../components/alerts-view';
import { Loading } from '../../components/states';

export default function AlertsPage() {
  return (
    <Suspense fallback={<Loading what="alerts" />}>
      <AlertsView />
    </Suspense>
  );
}
