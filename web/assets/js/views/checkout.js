// Checkout, `/checkout`: contact e-mail (guests), shipping address and
// method (`GET /api/checkout/options`), then `POST /api/checkout`, which
// turns the cart into an order awaiting payment; payment happens on the
// order's page, with the totals the server computed for this address.
//
// Every attempt carries an `Idempotency-Key`. The key is kept (for the
// tab) with the request body: after a network failure or a 5xx, placing
// the same order again reuses it, so the server answers with the order it
// may already have created instead of a second one. Any other answer ends
// the attempt, and a changed form starts a new one.

import { api, randomKey } from "../api.js";
import * as session from "../session.js";
import { el, field, formErrors, money, errorPanel, $ } from "../ui.js";
import { loadCart, totalsTable } from "./cart.js";
import { isDegraded, onDegradedChange } from "../status.js";

const ATTEMPT = "emporium.checkoutAttempt";
const COUNTRIES = [
  ["US", "United States"], ["CA", "Canada"], ["GB", "United Kingdom"], ["IE", "Ireland"], ["DE", "Germany"],
  ["FR", "France"], ["NL", "Netherlands"], ["ES", "Spain"], ["IT", "Italy"], ["SE", "Sweden"],
  ["AU", "Australia"], ["NZ", "New Zealand"], ["JP", "Japan"],
];

function idempotencyKey(body) {
  const text = JSON.stringify(body);
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(ATTEMPT)); } catch { /* none */ }
  if (saved && saved.body === text) return saved.key;
  const key = randomKey();
  try { sessionStorage.setItem(ATTEMPT, JSON.stringify({ key, body: text })); } catch { /* one try only */ }
  return key;
}
const endAttempt = () => { try { sessionStorage.removeItem(ATTEMPT); } catch { /* nothing kept */ } };

function methodChoice(m, currency, subtotal, checked) {
  const id = `ship-${m.code}`;
  const free = m.free_over != null && subtotal >= m.free_over;
  const price = free ? "Free" : money(m.price, currency);
  const note = m.free_over != null && !free ? ` (free from ${money(m.free_over, currency, true)})` : "";
  return el("div", { className: "choice" },
    el("input", { type: "radio", id, name: "shipping_method", value: m.code, checked }),
    el("label", { for: id }, el("strong", {}, m.name), ` — ${price}${note}`));
}

function summary(cart) {
  return el("aside", { className: "summary-box", "aria-labelledby": "summary-heading" },
    el("h2", { id: "summary-heading" }, "Your order"),
    el("ul", { className: "mini-lines" }, cart.lines.map((l) =>
      el("li", {}, el("span", {}, `${l.quantity} × ${l.name}`), el("span", {}, money(l.line_total, cart.currency))))),
    totalsTable(cart.totals, cart.currency, "Estimate for the cheapest shipping; the exact shipping and tax follow from your address on the next step."));
}

function problem(e, cart) {
  if (e.code === "price_changed") {
    const changes = (e.context && e.context.changes) || [];
    const name = (id) => (cart.lines.find((l) => l.product_id === id) || { name: "An item" }).name;
    return { ...e, message: "Some prices changed since you added the items; your cart now shows the new prices. Review them and place the order again to accept.",
      details: changes.map((c) => ({ message: `${name(c.product_id)}: was ${money(c.old_price, cart.currency)}, now ${money(c.new_price, cart.currency)}` })) };
  }
  if (e.code === "out_of_stock") {
    const left = e.context && e.context.available;
    return { ...e, message: `${e.message}${left != null ? ` Only ${left} left.` : ""} Adjust your cart and try again.` };
  }
  return e;
}

export async function render(ctx) {
  ctx.title("Checkout");
  const signedIn = session.auth();
  let cart, options;
  try {
    [cart, options] = await Promise.all([loadCart(ctx.signal), api("/api/checkout/options", { signal: ctx.signal })]);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.show(el("h1", {}, "Checkout"), errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
    return;
  }
  if (!cart || !cart.lines.length) {
    ctx.show(el("h1", {}, "Checkout"), el("p", {}, "Your cart is empty. ", el("a", { href: "/" }, "Find something you like"), "."));
    return;
  }
  const currency = options.currency || cart.currency;
  const text = (label, id, props = {}) => field(label, { id, type: "text", dataset: { field: id }, maxlength: "200", ...props });
  const country = field("Country", { id: "country", dataset: { field: "country" }, autocomplete: "country", options: COUNTRIES });
  const button = el("button", { type: "submit", className: "button block", id: "place-order" }, "Continue to payment");
  // Checkout is paused while the shop is degraded (see status.js).
  const paused = (on) => { button.disabled = on; button.title = on ? "Checkout is paused for a moment" : ""; };
  paused(isDegraded());
  const unwatch = onDegradedChange(paused);
  ctx.signal.addEventListener("abort", unwatch);
  const form = el("form", { className: "checkout-form", novalidate: true },
    el("div", { className: "form-message" }),
    signedIn
      ? el("p", {}, `Signed in as ${signedIn.user.email}.`)
      : el("fieldset", {}, el("legend", {}, "Contact"),
        el("p", { className: "muted small" }, "Have an account? ", el("a", { href: "/signin?next=/checkout" }, "Sign in"), " to keep this order in your history."),
        field("E-mail for the receipt", { id: "email", type: "email", autocomplete: "email", required: true, dataset: { field: "email" } })),
    el("fieldset", {}, el("legend", {}, "Shipping address"),
      text("Full name", "name", { autocomplete: "name", required: true }),
      text("Address", "line1", { autocomplete: "address-line1", required: true }),
      text("Apartment, suite (optional)", "line2", { autocomplete: "address-line2" }),
      el("div", { className: "row" },
        text("City", "city", { autocomplete: "address-level2", required: true }),
        text("State / region", "region", { autocomplete: "address-level1", maxlength: "50" })),
      el("div", { className: "row" },
        text("Postal code", "postal_code", { autocomplete: "postal-code", required: true, maxlength: "20" }),
        country),
      text("Phone (optional)", "phone", { type: "tel", autocomplete: "tel", maxlength: "40" })),
    el("fieldset", {}, el("legend", {}, "Shipping method"),
      options.shipping_methods.map((m, i) => methodChoice(m, currency, cart.totals.subtotal, i === 0))),
    button);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (id) => { const input = form.querySelector(`#${id}`); return input ? input.value.trim() : ""; };
    const address = { name: value("name"), line1: value("line1"), city: value("city"), postal_code: value("postal_code"), country: value("country") };
    for (const k of ["line2", "region", "phone"]) if (value(k)) address[k] = value(k);
    const body = { address, shipping_method: form.querySelector("input[name=shipping_method]:checked").value };
    if (!signedIn) body.email = value("email");
    const key = idempotencyKey(body);
    button.disabled = true;
    button.textContent = "Placing your order…";
    try {
      const placed = await api("/api/checkout", { method: "POST", body, cart: true, headers: { "Idempotency-Key": key } });
      endAttempt();
      session.rememberOrder(placed.order.id, placed.order_token);
      session.setCartCount(0);
      ctx.navigate(`/orders/${placed.order.id}`, { replace: true });
    } catch (err) {
      if (err.status > 0 && err.status < 500) endAttempt(); // a definitive answer: the next try is a new attempt
      formErrors(form, problem(err, cart));
      button.disabled = false;
      button.textContent = "Continue to payment";
      if (err.code === "price_changed") {
        const fresh = await loadCart().catch(() => null);
        if (fresh && $("summary-heading")) $("summary-heading").parentElement.replaceWith(summary(fresh));
      }
    }
  });
  ctx.show(el("h1", {}, "Checkout"), el("div", { className: "checkout-layout" }, form, summary(cart)));
  $("country").value = "US";
}
