// The one way the console talks to the service: fetch + the API key + the service's errors.
//
// The key lives in sessionStorage (this tab only) and is sent as `Authorization: Bearer` only
// on the routes that need one (promote, submit a job, cancel). Error bodies are JSON: a 422
// carries a one-line `message` (and FastAPI's list in `detail`), every other error `detail`.

const KEY_STORAGE = "gan-console.api-key";

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) || "";
  } catch {
    return "";
  }
}

export function setKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: the key then lives only in the input field
  }
}

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

// The text a person should read for an error body (see the module comment).
export function errorText(status, body, fallback) {
  if (body && typeof body === "object") {
    if (typeof body.message === "string" && body.message) return body.message;
    if (typeof body.detail === "string" && body.detail) return body.detail;
    if (Array.isArray(body.detail) && body.detail.length) {
      return body.detail
        .map((d) => `${(d.loc || []).join(".")}: ${d.msg}`)
        .join("; ");
    }
  }
  return fallback || `HTTP ${status}`;
}

async function readError(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  let text = errorText(response.status, body, `${response.status} ${response.statusText}`);
  if (response.status === 401 && !getKey()) text += " (enter the API key at the top of the page)";
  const retry = response.headers.get("Retry-After");
  if (retry && response.status === 429) text += ` (retry after ${retry} s)`;
  return new ApiError(response.status, text, body);
}

// request(path, {method, body, auth, as, signal}):
//   body  — an object, sent as JSON;
//   auth  — send the API key;
//   as    — "json" (default) or "blob" or "response" (the raw Response).
export async function request(path, options = {}) {
  const { method = "GET", body, auth = false, as = "json", signal } = options;
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && getKey()) headers.Authorization = `Bearer ${getKey()}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, `cannot reach the service (${method} ${path}): ${err.message || err}`);
  }
  if (!response.ok) throw await readError(response);
  if (as === "response") return response;
  if (as === "blob") return response.blob();
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, options = {}) => request(path, { ...options, method: "GET" });
export const post = (path, body, options = {}) => request(path, { ...options, method: "POST", body });
