// What the storefront remembers in this browser: the signed-in session
// (access and refresh tokens), the guest cart token, the tokens that open
// guest orders, and the last known cart size for the header badge.
//
// Tokens sit in localStorage so that a reload or a new tab keeps the
// customer signed in and a guest's confirmation page keeps working. That
// makes them readable by any script on the page, which is why the page
// runs under a strict Content-Security-Policy (scripts from this origin
// only, nothing inline). The cart cookie the server also sets is HttpOnly;
// the app sends the token as `X-Cart-Token` instead, which takes precedence.

const KEYS = {
  auth: "emporium.auth",
  cart: "emporium.cart",
  orders: "emporium.orders",
  count: "emporium.cartCount",
};

const listeners = new Set();

function read(key) {
  try { return JSON.parse(localStorage.getItem(key)); } catch { return null; }
}

function write(key, value) {
  try {
    if (value == null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value));
  } catch { /* storage full or disabled: the session lasts as long as the page */ }
}

function changed() { for (const fn of listeners) fn(); }

/** Calls `fn` whenever the session or the cart size changes (also from another tab). */
export function onChange(fn) { listeners.add(fn); }
window.addEventListener("storage", (e) => { if (e.key && e.key.startsWith("emporium.")) changed(); });

/** `{token, refresh_token, user, expires_at}` of the signed-in customer, or null. */
export function auth() { return read(KEYS.auth); }

/** Keeps a login, register or refresh answer. */
export function signIn(answer) {
  write(KEYS.auth, {
    token: answer.token,
    refresh_token: answer.refresh_token,
    user: answer.user,
    expires_at: Date.now() + (answer.expires_in || 900) * 1000,
  });
  changed();
}

/**
 * Ends the session in this browser and forgets everything kept for the
 * customer: on a shared device the next person must not open their guest
 * orders, their cart or the checkout form they filled in.
 */
export function signOut() {
  write(KEYS.auth, null);
  write(KEYS.cart, null);
  write(KEYS.orders, null);
  write(KEYS.count, 0);
  try {
    for (const key of Object.keys(sessionStorage)) if (key.startsWith("emporium.")) sessionStorage.removeItem(key);
  } catch { /* storage disabled: nothing was kept */ }
  changed();
}

export function cartToken() { return read(KEYS.cart); }
export function setCartToken(token) { write(KEYS.cart, token); changed(); }

export function cartCount() { return read(KEYS.count) || 0; }
export function setCartCount(n) {
  if (cartCount() === n) return;
  write(KEYS.count, n);
  changed();
}

/** The `X-Order-Token` of a guest order placed in this browser. */
export function orderToken(id) { return (read(KEYS.orders) || {})[id] || null; }

/** Guest orders placed in this browser, newest first: `[id, token]`. */
export function guestOrders() { return Object.entries(read(KEYS.orders) || {}).reverse(); }

export function rememberOrder(id, token) {
  if (!token) return;
  const orders = read(KEYS.orders) || {};
  delete orders[id];
  orders[id] = token;
  // Keep the 20 newest; older confirmations are in the customer's e-mail.
  write(KEYS.orders, Object.fromEntries(Object.entries(orders).slice(-20)));
}
