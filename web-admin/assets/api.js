// The admin API from the browser: JSON in and out, the session cookie sent by the browser, and the
// CSRF token (from login or /me) echoed on every state change.

let csrfToken = '';

/** An API refusal: `status`, the short `error` code, the human `detail`, and the `field` it names. */
export class ApiError extends Error {
  constructor(status, error, detail) {
    super(detail || error || `HTTP ${status}`);
    this.status = status;
    this.error = error;
    // Validation messages start with the field name: "capacity: must be between 1 and 10000", or
    // its path in an object: "content.framerate: 0 is out of range 1..=30".
    const m = /^([A-Za-z]+(?:\.[A-Za-z]+)*): /.exec(detail || '');
    this.field = m ? m[1] : null;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || '';
}

/** Calls `/admin/api/<path>`; resolves with the parsed JSON (or null), rejects with ApiError. */
export async function api(method, path, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrfToken;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let resp;
  try {
    resp = await fetch(`/admin/api/${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'The hub could not be reached. Check your connection and try again.');
  }
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.error, data && data.detail);
  }
  return data;
}

/** Who is logged in, or a trip to the login page. */
export async function requireLogin() {
  try {
    const me = await api('GET', 'me');
    setCsrfToken(me.csrfToken);
    return me;
  } catch (e) {
    if (e.status === 401) {
      location.assign('/admin/login');
      return new Promise(() => {});
    }
    throw e;
  }
}

/** The page header of a signed-in page: the Log out button and who is signed in. Returns the account. */
export async function startPage() {
  document.getElementById('logout').addEventListener('click', async () => {
    try {
      await api('POST', 'logout');
    } finally {
      location.assign('/admin/login');
    }
  });
  const me = await requireLogin();
  document.getElementById('who').textContent = `${me.username} (${me.role})`;
  return me;
}
