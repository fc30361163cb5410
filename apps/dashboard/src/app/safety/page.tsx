import { Suspense } from 'react';
import { SafetyView } from '../../components/safety-view';
import { Loading } from '../../components/states';

export default function SafetyPage() {
  return (
    <Suspense fallback={<Loading what="hazards" />}>
      <SafetyView />
    </Suspense>
  );
}
