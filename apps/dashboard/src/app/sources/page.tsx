import { SourcesView } from '../../components/sources-view';

export default function SourcesPage() {
  return <SourcesView />;
}
