// The one way the storefront talks to Emporium's JSON API (same origin).
// It adds the bearer token of the signed-in customer, the guest cart token
// or a guest order token where a call asks for them, renews an expired
// access token once with the refresh token, and turns every failure into an
// `ApiError` whose message can be shown as it is — including the degraded
// states (rate limited, shop unavailable, network down).

import * as session from "./session.js";
import { noteResponse } from "./status.js";

export class ApiError extends Error {
  constructor({ status = 0, code = "network", message, details = [], context = null, requestId = "", retryAfter = 0 }) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.context = context;
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }
}

/** The message a customer sees for a status the API gives no better words for. */
function plainMessage(status, retryAfter, fallback) {
  if (status === 429) {
    return `Too many requests right now. Please wait ${retryAfter > 1 ? `${retryAfter} seconds` : "a moment"} and try again.`;
  }
  if (status === 503 || status === 502 || status === 504) {
    return "The shop is busy or briefly unavailable. Please try again in a moment.";
  }
  if (status >= 500) return "Something went wrong on our side. Please try again.";
  return fallback || `The request failed (${status}).`;
}

let refreshing = null;

// Renews the session once, however many calls found the token expired.
// Refresh tokens are single use and a reuse ends the session, so if another
// tab has already renewed it (the stored token changed), that pair is used.
function refresh(stale) {
  if (!refreshing) {
    refreshing = (async () => {
      const now = session.auth();
      if (!now) return false;
      if (now.refresh_token !== stale.refresh_token) return true;
      try {
        const res = await fetch("/api/auth/refresh", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify({ refresh_token: now.refresh_token }),
        });
        if (!res.ok) { session.signOut(); return false; }
        session.signIn(await res.json());
        return true;
      } catch { return false; } finally { setTimeout(() => { refreshing = null; }, 0); }
    })();
  }
  return refreshing;
}

/**
 * Calls the API and returns the parsed JSON body (null for 204).
 * Options: method, body (sent as JSON), headers, signal; `cart: true` sends
 * the guest cart token; `orderToken` sends `X-Order-Token`; `onResponse`
 * sees the raw Response first (timings, status).
 */
export async function api(path, opts = {}) {
  const { method = "GET", body, signal, cart = false, orderToken = null, onResponse } = opts;
  const who = session.auth();
  if (who && Date.now() > who.expires_at - 30_000 && !path.startsWith("/api/auth/")) await refresh(who);
  const signedIn = session.auth();
  const headers = { Accept: "application/json", ...(opts.headers || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (signedIn) headers.Authorization = `Bearer ${signedIn.token}`;
  const cartToken = cart && session.cartToken();
  if (cartToken) headers["X-Cart-Token"] = cartToken;
  if (orderToken) headers["X-Order-Token"] = orderToken;

  let res;
  try {
    res = await fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError({ message: "Could not reach the shop. Check your connection and try again." });
  }
  noteResponse(res);
  if (onResponse) onResponse(res);
  if (res.status === 401 && signedIn && !opts.retried && !path.startsWith("/api/auth/")) {
    if (await refresh(signedIn)) return api(path, { ...opts, retried: true });
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (res.ok) return data;
  const err = (data && data.error) || {};
  const retryAfter = Number(res.headers.get("Retry-After")) || 0;
  // The general rate limit's words are technical; any other 429 says what
  // happened in the server's words.
  // So does `degraded` (503: the shop pauses writes but can be browsed).
  const useServerWords = (res.status < 500 || err.code === "degraded") && !(res.status === 429 && err.code === "rate_limited") && err.message;
  throw new ApiError({
    status: res.status,
    code: err.code || "http_error",
    message: useServerWords ? sentence(err.message) : plainMessage(res.status, retryAfter, err.message),
    details: err.details || [],
    context: err.context || null,
    requestId: err.request_id || res.headers.get("x-request-id") || "",
    retryAfter,
  });
}

/** "cart is empty" → "Cart is empty." */
export function sentence(text) {
  const s = String(text || "").trim();
  if (!s) return s;
  return s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? "" : ".");
}

/** A fresh random key (Idempotency-Key); works outside secure contexts too. */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

let config = null;
/** `GET /api/config`, fetched once: the currency and the card tokenization endpoint. */
export function clientConfig() {
  if (!config) config = api("/api/config").catch((e) => { config = null; throw e; });
  return config;
}
