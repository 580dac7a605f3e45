// The JSON API client. Every request is same-origin with the session cookie; writes carry
// `Content-Type: application/json`, which the console requires of cookie-authenticated writes
// as its CSRF defence (a cross-site form cannot send that type without a CORS preflight).

/** An error the API answered with: the HTTP status and the `{"error": ...}` message. */
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Calls `method path` with an optional JSON body and returns the parsed JSON answer. */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, "the console cannot be reached");
  }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("application/json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const message = (data && typeof data.error === "string") ? data.error : response.statusText;
    if (response.status === 401 && !path.startsWith("/api/login")) {
      window.dispatchEvent(new CustomEvent("hotline:signed-out"));
    }
    throw new ApiError(response.status, message || `HTTP ${response.status}`);
  }
  return data;
}

export const get = (path) => api("GET", path);
export const post = (path, body = {}) => api("POST", path, body);
export const patch = (path, body) => api("PATCH", path, body);

/** Builds a query string from the non-empty values of `params`. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
