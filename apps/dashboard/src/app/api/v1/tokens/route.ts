import { serverApi } from '../../../../server/server-api';

export const dynamic = 'force-dynamic';

export function GET(request: Request) {
  return serverApi().tokens(request);
}

export function POST(request: Request) {
  return serverApi().createToken(request);
}
