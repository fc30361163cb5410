import { serverApi } from '../../../../../../server/server-api';

export const dynamic = 'force-dynamic';

export function POST(request: Request, context: { params: Promise<{ id: string }> }) {
  return serverApi().releaseLock(request, context);
}
