// The REST API as the dashboard uses it: the token (if any) on every request, and the API's own
// refusal text out of sysinv's error body, so the operator reads exactly what the API said.

const TOKEN_KEY = 'steward-token';

export function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  if (t) localStorage.setItem(TOKEN_KEY, t);
  else localStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** An answer the API refused, with its status and its own text. */
export class ApiError extends Error {
  constructor(status, text) {
    super(text);
    this.status = status;
  }
}

/** The reason inside `{"error_message": "{\"faultstring\": \"…\"}"}` (or the body as text). */
export function reasonOf(body, fallback) {
  try {
    const outer = typeof body === 'string' ? JSON.parse(body) : body;
    const inner = JSON.parse(outer.error_message);
    if (inner && inner.faultstring) return inner.faultstring;
  } catch {
    // not sysinv's shape: show what came
  }
  return (typeof body === 'string' && body) || fallback;
}

let onUnauthorized = () => {};
export function whenUnauthorized(f) {
  onUnauthorized = f;
}

export async function api(path, { method = 'GET', body } = {}) {
  const headers = { ...authHeaders(), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status === 401) onUnauthorized();
  if (!res.ok) throw new ApiError(res.status, reasonOf(text, `HTTP ${res.status}`));
  return text ? JSON.parse(text) : null;
}

/** Ask for an operator action (lock, unlock, reboot, …; delete is its own method). */
export function requestAction(host, action) {
  if (action === 'delete') return api(`/v1/ihosts/${encodeURIComponent(host)}`, { method: 'DELETE' });
  return api(`/v1/ihosts/${encodeURIComponent(host)}`, {
    method: 'PATCH',
    body: [{ op: 'replace', path: '/action', value: action }],
  });
}
