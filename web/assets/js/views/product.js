// A product's page, `/product/{id}` (`GET /api/products/{id}`): what the
// catalog knows about it and "Add to cart" with a quantity. A guest's first
// add creates the guest cart (`POST /api/carts`) and keeps its token.

import { api } from "../api.js";
import * as session from "../session.js";
import { el, money, placeholder, errorPanel, announce } from "../ui.js";

/** Adds to the customer's cart, creating a guest cart first if needed. */
export async function addToCart(productId, quantity) {
  if (!session.auth() && !session.cartToken()) {
    const created = await api("/api/carts", { method: "POST" });
    session.setCartToken(created.cart_token);
  }
  const add = () => api("/api/cart/items", { method: "POST", cart: true, body: { product_id: productId, quantity } });
  let cart;
  try {
    cart = await add();
  } catch (e) {
    // The guest cart is gone (expired, or merged at a sign-in elsewhere): start a new one.
    if (e.status !== 404 || session.auth() || e.code !== "not_found" || !/cart/i.test(e.message)) throw e;
    const created = await api("/api/carts", { method: "POST" });
    session.setCartToken(created.cart_token);
    cart = await add();
  }
  session.setCartCount(cart.item_count);
  return cart;
}

function crumbs(category) {
  const parts = category.slug.split("/");
  return el("nav", { "aria-label": "Breadcrumb" }, el("ol", { className: "crumbs" },
    el("li", {}, el("a", { href: "/" }, "Home")),
    (category.path || []).map((name, i) => el("li", {},
      el("a", { href: `/?${new URLSearchParams({ category: parts.slice(0, i + 1).join("/") })}` }, name)))));
}

export async function render(ctx) {
  let p;
  try {
    p = await api(`/api/products/${encodeURIComponent(ctx.params[0])}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.title(e.status === 404 || e.status === 400 ? "Product not found" : "Product");
    ctx.show(el("h1", {}, e.status === 404 || e.status === 400 ? "Product not found" : "Product"),
      e.status === 404 || e.status === 400
        ? el("p", {}, "This product is not sold here (any more). ", el("a", { href: "/" }, "Find something else"), ".")
        : errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
    return;
  }
  ctx.title(p.name);
  const qty = el("input", { id: "quantity", type: "number", min: "1", max: "99", value: "1", inputmode: "numeric", required: true });
  const status = el("div", { className: "add-status", role: "status" });
  const button = el("button", { type: "submit", className: "button" }, "Add to cart");
  const form = el("form", { className: "buy", onsubmit: async (e) => {
    e.preventDefault();
    const n = Number(qty.value);
    if (!Number.isInteger(n) || n < 1 || n > 99) {
      status.replaceChildren(el("p", { className: "field-error" }, "Choose a quantity from 1 to 99."));
      qty.focus();
      return;
    }
    button.disabled = true;
    status.replaceChildren(el("p", { className: "muted" }, "Adding…"));
    try {
      const cart = await addToCart(p.id, n);
      status.replaceChildren(el("p", { className: "ok" }, `Added to your cart (${cart.item_count} ${cart.item_count === 1 ? "item" : "items"}). `,
        el("a", { href: "/cart" }, "View cart"), " · ", el("a", { href: "/checkout" }, "Check out")));
      announce("Added to your cart.");
    } catch (err) {
      status.replaceChildren(errorPanel(err));
    } finally {
      button.disabled = false;
    }
  } },
  el("div", { className: "field inline" }, el("label", { for: "quantity" }, "Quantity"), qty), button);

  const attrs = Object.entries(p.attributes || {});
  ctx.show(
    crumbs(p.category),
    el("article", { className: "product" },
      placeholder(p.name, "large"),
      el("div", { className: "summary" },
        el("h1", {}, p.name),
        p.brand ? el("p", { className: "brand" }, "by ", el("a", { href: `/?${new URLSearchParams({ brand: p.brand })}` }, p.brand)) : null,
        el("p", { className: "price big" }, money(p.price.amount, p.price.currency)),
        form, status,
        el("p", { className: "muted small" }, `SKU ${p.sku}`)),
      el("section", { className: "details", "aria-labelledby": "about" },
        el("h2", { id: "about" }, "About this product"),
        p.description ? el("p", { className: "desc" }, p.description) : el("p", { className: "muted" }, "No description."),
        attrs.length ? el("h2", {}, "Specifications") : null,
        attrs.length ? el("dl", { className: "attrs" }, attrs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))])) : null)));
}
