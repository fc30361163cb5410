/** A failed API call, with the server's `{ error: { code, message } }` when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function fetchJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  return send<T>(path, { signal: signal ?? null, headers: { Accept: 'application/json' }, cache: 'no-store' });
}

/** The header the server checks the session's CSRF token in (server/auth/request-guard.ts). */
export const CSRF_HEADER = 'x-lockscope-csrf';

/** POST a JSON body (the actions) with the session's CSRF token; errors as for fetchJson. */
export function postJson<T>(path: string, body: unknown, csrfToken: string | null): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'Content-Type': 'application/json' };
  if (csrfToken) headers[CSRF_HEADER] = csrfToken;
  return send<T>(path, { method: 'POST', headers, body: JSON.stringify(body), cache: 'no-store', credentials: 'same-origin' });
}

async function send<T>(path: string, init: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, 'NETWORK', 'the dashboard server did not answer; is it running?');
  }
  const body: unknown = await response.json().catch(() => null);
  if (!response.ok) {
    const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
    throw new ApiError(
      response.status,
      typeof e?.code === 'string' ? e.code : `HTTP_${response.status}`,
      typeof e?.message === 'string' ? e.message : `the API answered ${response.status} ${response.statusText}`,
    );
  }
  return body as T;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') sp.set(k, String(v));
  const s = sp.toString();
  return s ? `?${s}` : '';
}
