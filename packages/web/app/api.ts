/**
 * The dashboard's one way to the operator API: same origin, the session cookie, JSON both ways, and the
 * header that marks writes as coming from this page (the server refuses cookie writes without it).
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();

/** Called when a request finds the session gone (expired, revoked operator). */
export function onSignedOut(listener: Listener): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET') headers['x-edgeward-csrf'] = '1';
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  const body = text === '' ? {} : (JSON.parse(text) as unknown);
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    const failure = new ApiError(
      response.status,
      error?.code ?? '',
      error?.message ?? `${method} ${path} answered ${response.status}`,
    );
    if (response.status === 401 && !path.startsWith('/api/v1/session')) {
      for (const listener of signedOutListeners) listener();
    }
    throw failure;
  }
  return body as T;
}

/** Builds a query string from the defined values; arrays repeat the key. */
export function query(values: Record<string, string | number | readonly string[] | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === '') continue;
    if (Array.isArray(value)) for (const item of value) params.append(key, item);
    else params.set(key, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
