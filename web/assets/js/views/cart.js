// The cart, `/cart`: the guest's (by its token) or the signed-in
// customer's. Quantities are edited in place (`PATCH /api/cart/items/{id}`,
// 0 removes), and every amount shown is the server's answer.

import { api } from "../api.js";
import * as session from "../session.js";
import { el, money, placeholder, errorPanel, announce } from "../ui.js";

/** `GET /api/cart`, or null when this browser has no cart yet. */
export async function loadCart(signal) {
  if (!session.auth() && !session.cartToken()) return null;
  try {
    const cart = await api("/api/cart", { cart: true, signal });
    session.setCartCount(cart.item_count);
    return cart;
  } catch (e) {
    if (e.status === 404 && !session.auth()) { session.setCartToken(null); session.setCartCount(0); return null; }
    throw e;
  }
}

/** Subtotal, shipping, tax and total rows; `note` explains estimates. */
export function totalsTable(totals, currency, note) {
  const row = (label, amount, cls) => el("tr", { className: cls }, el("th", { scope: "row" }, label), el("td", {}, money(amount, currency)));
  return el("table", { className: "totals" },
    note ? el("caption", { className: "muted small" }, note) : null,
    el("tbody", {},
      row("Subtotal", totals.subtotal),
      row("Shipping", totals.shipping),
      row("Tax", totals.tax),
      row("Total", totals.total, "grand")));
}

function line(l, currency, update) {
  const id = `qty-${l.product_id}`;
  const qty = el("input", { id, type: "number", min: "0", max: "99", value: String(l.quantity), inputmode: "numeric",
    className: "qty", dataset: { key: id } });
  let timer = 0;
  const send = () => {
    clearTimeout(timer);
    const n = Number(qty.value);
    if (!Number.isInteger(n) || n < 0 || n > 99 || n === l.quantity) return;
    update(`/api/cart/items/${encodeURIComponent(l.product_id)}`, "PATCH", { quantity: n }, n === 0 ? `${l.name} removed.` : `Quantity of ${l.name} set to ${n}.`);
  };
  qty.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(send, 600); });
  qty.addEventListener("change", send);
  return el("li", { className: "line", dataset: { product: l.product_id } },
    placeholder(l.name, "small"),
    el("div", { className: "line-main" },
      el("a", { href: `/product/${encodeURIComponent(l.product_id)}` }, l.name),
      el("p", { className: "muted small" }, `${money(l.unit_price, currency)} each`),
      l.price_changed ? el("p", { className: "warn small" }, "The price has changed since you added this; checkout will show the new price.") : null,
      l.unavailable ? el("p", { className: "warn small" }, "No longer sold: remove it to check out.") : null,
      !l.unavailable && l.available < l.quantity ? el("p", { className: "warn small" }, `Only ${l.available} left.`) : null),
    el("div", { className: "line-qty" },
      el("label", { for: id }, "Quantity", el("span", { className: "sr-only" }, ` of ${l.name}`)), qty,
      el("button", { type: "button", className: "link-button", dataset: { key: `rm-${l.product_id}` },
        onclick: () => update(`/api/cart/items/${encodeURIComponent(l.product_id)}`, "DELETE", undefined, `${l.name} removed.`) },
      "Remove", el("span", { className: "sr-only" }, ` ${l.name}`))),
    el("p", { className: "line-total" }, money(l.line_total, currency)));
}

export async function render(ctx) {
  ctx.title("Your cart");
  const status = el("div", { className: "cart-status", role: "status" });
  const draw = (cart) => {
    if (!cart || !cart.lines.length) {
      ctx.show(el("h1", {}, "Your cart"), status, el("p", {}, "Your cart is empty. ", el("a", { href: "/" }, "Find something you like"), "."));
      return;
    }
    const blocked = cart.lines.some((l) => l.unavailable);
    ctx.show(el("h1", {}, "Your cart"), status,
      el("div", { className: "cart-layout" },
        el("ul", { className: "lines", "aria-label": "Items" }, cart.lines.map((l) => line(l, cart.currency, update))),
        el("aside", { className: "summary-box", "aria-label": "Order summary" },
          el("p", { id: "cart-items" }, `${cart.item_count} ${cart.item_count === 1 ? "item" : "items"}`),
          totalsTable(cart.totals, cart.currency, "Estimate: shipping and tax are confirmed at checkout."),
          blocked ? el("p", { className: "warn" }, "Remove the items no longer sold to check out.")
            : el("a", { href: "/checkout", className: "button block", id: "to-checkout" }, "Check out"))));
  };
  // Sends one change and redraws with the cart the server answers.
  async function update(path, method, body, done) {
    const key = document.activeElement && document.activeElement.dataset.key;
    try {
      const cart = await api(path, { method, body, cart: true });
      session.setCartCount(cart.item_count);
      draw(cart);
      status.replaceChildren(el("p", { className: "ok" }, done));
      announce(done);
      // Redrawing replaced the control in use: give the focus back to it, or to the heading.
      const again = key && document.querySelector(`#main [data-key="${CSS.escape(key)}"]`);
      (again || document.querySelector("#main h1")).focus();
    } catch (e) {
      status.replaceChildren(errorPanel(e));
      if (e.status === 404 || e.status === 409) draw(await loadCart().catch(() => null));
    }
  }
  try {
    draw(await loadCart(ctx.signal));
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.show(el("h1", {}, "Your cart"), errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
  }
}
