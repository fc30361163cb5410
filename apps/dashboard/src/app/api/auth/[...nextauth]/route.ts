import { serverApi } from '../../../../server/server-api';

export const dynamic = 'force-dynamic';

type Context = { params: Promise<{ nextauth: string[] }> };

export function GET(request: Request, context: Context) {
  return serverApi().auth(request, context);
}

export function POST(request: Request, context: Context) {
  return serverApi().auth(request, context);
}
