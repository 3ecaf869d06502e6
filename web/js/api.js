// api.js - the REST API as the web UI uses it: JSON in and out, problem+json
// errors as exceptions, and the sign-in kept alive. The access token lives
// in memory only; the refresh token in localStorage, so a reload stays
// signed in. Tokens are refreshed a minute before they expire, and once
// more when an answer says 401.

const REFRESH_KEY = 'chat4all.refresh';

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  // the message of a field error, if the problem names that field
  field(name) {
    return (this.problem.errors || []).find((e) => e.field === name)?.message;
  }
}

let access = null;
let refreshTimer = null;
let refreshing = null;
const signedOutListeners = [];

export function onSignedOut(fn) {
  signedOutListeners.push(fn);
}

function keep(tokens) {
  access = tokens.access_token;
  localStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  clearTimeout(refreshTimer);
  const inMs = Math.max(10, (tokens.expires_in || 900) - 60) * 1000;
  refreshTimer = setTimeout(() => refresh().catch(() => {}), inMs);
}

function forget() {
  access = null;
  clearTimeout(refreshTimer);
  localStorage.removeItem(REFRESH_KEY);
}

async function raw(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (access) init.headers.Authorization = `Bearer ${access}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// A sign-in is refreshed by one request at a time: the token rotates.
export function refresh() {
  if (refreshing) return refreshing;
  const token = localStorage.getItem(REFRESH_KEY);
  if (!token) return Promise.reject(new ApiError(401, { detail: 'not signed in' }));
  refreshing = raw('POST', '/v1/auth/refresh', { refresh_token: token })
    .then(keep)
    .catch((e) => {
      if (e.status === 401) {
        forget();
        signedOutListeners.forEach((fn) => fn());
      }
      throw e;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export async function api(method, path, body, headers) {
  try {
    return await raw(method, path, body, headers);
  } catch (e) {
    if (e.status !== 401 || path.startsWith('/v1/auth/')) throw e;
    await refresh();
    return raw(method, path, body, headers);
  }
}

export const get = (path) => api('GET', path);
export const post = (path, body, headers) => api('POST', path, body ?? {}, headers);

export async function signIn(username, password) {
  keep(await raw('POST', '/v1/auth/token', { username, password }));
}

export async function signUp(username, password, displayName) {
  const body = { username, password };
  if (displayName) body.display_name = displayName;
  await raw('POST', '/v1/auth/register', body);
  await signIn(username, password);
}

export async function signOut() {
  const token = localStorage.getItem(REFRESH_KEY);
  try {
    if (token) await raw('POST', '/v1/auth/logout', { refresh_token: token });
  } finally {
    forget();
  }
}

export const hasSession = () => !!localStorage.getItem(REFRESH_KEY);
export const accessToken = () => access;
