import { Suspense } from 'react';
import { AuditView } from '../../components/audit-view';
import { Loading } from '../../components/states';

export default function AuditPage() {
  return (
    <Suspense fallback={<Loading what="audit records" />}>
      <AuditView />
    </Suspense>
  );
}
