import { serverApi } from '../../../../server/server-api';

export const dynamic = 'force-dynamic';

export function GET(request: Request) {
  return serverApi().hazards(request);
}
