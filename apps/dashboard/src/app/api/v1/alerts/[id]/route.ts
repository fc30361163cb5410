import { serverApi } from '../../../../../server/server-api';

export const dynamic = 'force-dynamic';

export function GET(request: Request, context: { params: Promise<{ id: string }> }) {
  return serverApi().alert(request, context);
}
