// Degraded mode, as the customer sees it: while the shop cannot take
// orders (no primary database; `GET /api/status` says `degraded`, or a
// response carries `X-Emporium-Degraded: read-only`), a banner says that
// browsing works and checkout is paused, and the checkout buttons are
// disabled. The state is asked again every 15 seconds, so the shop
// recovers without a reload.

import { $ } from "./ui.js";

const POLL_MS = 15_000;
let degraded = false;
const listeners = new Set();

/** Whether checkout is paused now. */
export const isDegraded = () => degraded;

/** Calls `fn(degraded)` whenever the state changes; returns the unsubscriber. */
export function onDegradedChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function setDegraded(value, message) {
  const banner = $("degraded");
  if (banner) {
    banner.textContent = message || "You can browse the shop; checkout is paused for a moment.";
    banner.hidden = !value;
  }
  document.body.classList.toggle("degraded", value);
  if (value === degraded) return;
  degraded = value;
  for (const fn of listeners) fn(value);
}

async function poll() {
  try {
    const res = await fetch("/api/status", { headers: { Accept: "application/json" } });
    if (res.ok) {
      const s = await res.json();
      setDegraded(s.status === "degraded", s.message);
    }
  } catch { /* offline: api() reports it where it matters */ }
}

/** Asks now and every 15 seconds. */
export function watchStatus() {
  poll();
  setInterval(poll, POLL_MS);
}

/** A response said it was served while writes are paused. */
export function noteResponse(res) {
  if (res.headers.get("X-Emporium-Degraded") === "read-only" && !degraded) poll();
}
