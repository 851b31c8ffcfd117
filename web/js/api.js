// inlet's HTTP API as the pages use it: the API key (entered once, kept in
// sessionStorage for this tab), JSON requests with errors as ApiError, the
// query endpoint and its availability.

const KEY_STORAGE = 'inlet.apiKey';
const keyListeners = new Set();

export function getKey() {
  return sessionStorage.getItem(KEY_STORAGE) || '';
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  queryState = null;
  for (const fn of keyListeners) fn(key);
}

// fn(key) runs whenever the key changes; returns an unsubscribe function.
export function onKeyChange(fn) {
  keyListeners.add(fn);
  return () => keyListeners.delete(fn);
}

// Called with the error when inlet answers 401 (no or wrong key).
let unauthorizedHandler = () => {};
export function onUnauthorized(fn) {
  unauthorizedHandler = fn;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  // True when inlet has no such endpoint (a component not wired in this build).
  get missingEndpoint() {
    return this.status === 404 && this.code === 'not_found' && /no such endpoint/.test(this.message);
  }
}

// A request to inlet; resolves to parsed JSON (or text for non-JSON answers).
export async function api(path, {method = 'GET', body, signal, auth = true} = {}) {
  const headers = {};
  if (auth && getKey()) headers['Authorization'] = 'Bearer ' + getKey();
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {method, headers, signal, cache: 'no-store',
      body: body === undefined ? undefined : (typeof body === 'string' ? body : JSON.stringify(body))});
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'inlet did not answer (' + e.message + ')');
  }
  const text = await res.text();
  const isJson = (res.headers.get('content-type') || '').includes('json');
  let data = text;
  if (isJson && text) {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad_response', 'inlet sent invalid JSON for ' + path);
    }
  }
  if (!res.ok) {
    const err = data && data.error ? data.error : {};
    const e = new ApiError(res.status, err.code || 'http_' + res.status,
        err.message || (res.status + ' ' + res.statusText + ' for ' + path));
    e.retryAfter = Number(res.headers.get('retry-after')) || 0;
    if (res.status === 401) unauthorizedHandler(e);
    throw e;
  }
  return data;
}

// Whether POST /v1/query exists in this inlet: null unknown, true, false.
let queryState = null;

export function queryAvailable() {
  return queryState;
}

// Runs SQL through POST /v1/query: {columns, rows, row_count, truncated,
// bytes_scanned, elapsed_ms}. Throws ApiError (missingEndpoint when the
// query API is not part of this inlet).
// At most MAX_PARALLEL queries of this tab run at once (inlet limits
// concurrent queries for everyone and answers 429 beyond); a 429 is retried
// after its Retry-After.
const MAX_PARALLEL = 2;
const MAX_RETRIES = 5;
let running = 0;
const waiting = [];

async function withSlot(fn) {
  if (running >= MAX_PARALLEL) await new Promise((resolve) => waiting.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    const next = waiting.shift();
    if (next) next();
  }
}

export async function query(sql, {maxRows = 10000, signal} = {}) {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await withSlot(() => api('/v1/query', {method: 'POST', body: {sql, max_rows: maxRows}, signal}));
      queryState = true;
      r.columns = r.columns || [];
      r.rows = r.rows || [];
      return r;
    } catch (e) {
      if (e instanceof ApiError && e.missingEndpoint) queryState = false;
      if (e instanceof ApiError && e.status === 429 && attempt < MAX_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, (e.retryAfter || 0.5) * 1000));
        continue;
      }
      throw e;
    }
  }
}

// Rows of a result as objects keyed by column name.
export function records(result) {
  const names = result.columns.map((c) => c.name);
  return result.rows.map((r) => Object.fromEntries(names.map((n, i) => [n, r[i]])));
}

// The first array found in a response (top level, or under any key), for
// endpoints whose exact shape may vary: ["a"], {"items":[...]}, {"tables":[...]}.
export function firstArray(data, preferred = []) {
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    for (const k of preferred) if (Array.isArray(data[k])) return data[k];
    for (const v of Object.values(data)) if (Array.isArray(v)) return v;
  }
  return [];
}
