// Order history, `/orders`: a customer's orders, newest first
// (`GET /api/orders`, "More orders" follows `next_before`), with their
// states; a guest sees the orders placed in this browser (each opened with
// its order token).

import { api } from "../api.js";
import * as session from "../session.js";
import { el, money, date, statusBadge, errorPanel } from "../ui.js";

const PAGE = 20;

function row(o) {
  const count = o.item_count ?? (o.lines || []).reduce((n, l) => n + l.quantity, 0);
  return el("tr", { dataset: { order: o.id, status: o.status } },
    el("td", {}, el("a", { href: `/orders/${encodeURIComponent(o.id)}` }, o.id.slice(-8).toUpperCase())),
    el("td", {}, date(o.created_at)),
    el("td", {}, `${count} ${count === 1 ? "item" : "items"}`),
    el("td", { className: "num" }, money(o.totals.total, o.currency)),
    el("td", {}, statusBadge(o.status)));
}

function table(rows) {
  return el("table", { className: "orders" },
    el("caption", { className: "sr-only" }, "Your orders, newest first"),
    el("thead", {}, el("tr", {}, ["Order", "Placed", "Items", "Total", "Status"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows));
}

async function guestView(ctx) {
  const known = session.guestOrders();
  const orders = (await Promise.all(known.map(([id, token]) =>
    api(`/api/orders/${encodeURIComponent(id)}`, { orderToken: token, signal: ctx.signal }).catch((e) => {
      if (e.name === "AbortError") throw e;
      return null;
    })))).filter(Boolean);
  ctx.show(el("h1", {}, "Your orders"),
    el("p", {}, el("a", { href: "/signin?next=/orders" }, "Sign in"), " to see every order of your account."),
    orders.length
      ? [el("h2", {}, "Placed in this browser as a guest"), el("div", { className: "table-wrap" }, table(orders.map(row)))]
      : el("p", { className: "muted" }, "No guest orders in this browser."));
}

export async function render(ctx) {
  ctx.title("Your orders");
  if (!session.auth()) { await guestView(ctx); return; }
  const body = el("tbody");
  const more = el("button", { type: "button", className: "button secondary", hidden: true }, "More orders");
  let before = null;
  async function page(signal) {
    const data = await api(`/api/orders?${new URLSearchParams({ limit: String(PAGE), ...(before ? { before } : {}) })}`, { signal });
    body.append(...data.items.map(row));
    before = data.next_before || null;
    more.hidden = !before;
    return data;
  }
  more.addEventListener("click", async () => {
    more.disabled = true;
    try { await page(); } catch (e) { more.after(errorPanel(e)); } finally { more.disabled = false; }
  });
  try {
    const first = await page(ctx.signal);
    if (!first.items.length) {
      ctx.show(el("h1", {}, "Your orders"), el("p", {}, "No orders yet. ", el("a", { href: "/" }, "Start shopping"), "."));
      return;
    }
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.show(el("h1", {}, "Your orders"), errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
    return;
  }
  const t = table([]);
  t.querySelector("tbody").replaceWith(body);
  ctx.show(el("h1", {}, "Your orders"), el("div", { className: "table-wrap" }, t), more);
}
