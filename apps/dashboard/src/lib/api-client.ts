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

/** POST a JSON body (the alert actions); errors as for fetchJson. */
export function postJson<T>(path: string, body: unknown): Promise<T> {
  return send<T>(path, { method: 'POST', headers: { Accept: 'application/json', 'Content-Type': 'application/json' }, body: JSON.stringify(body), cache: 'no-store' });
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
