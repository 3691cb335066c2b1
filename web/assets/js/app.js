// The storefront's entry point: a small router over the history API and the
// parts of the page that stay (header search, account links, cart badge).
//
// Each page is a module in views/ with `render(ctx)`, loaded when first
// needed. A navigation aborts the page being rendered (`ctx.signal`), so a
// slow answer never paints over a newer page. After a navigation the focus
// moves to the new page's heading, so keyboard and screen-reader users
// land on it; when only the query changes (a facet, the next page) it
// returns to the control that was used, if it is still there.

import * as session from "./session.js";
import { api, clientConfig } from "./api.js";
import { $, el, announce, errorPanel, loading } from "./ui.js";
import { attachTypeahead } from "./typeahead.js";
import { watchStatus } from "./status.js";

const ROUTES = [
  [/^\/$/, (q) => (["q", "category", "brand", "min_price", "max_price"].some((k) => q.get(k)) ? "search" : "home")],
  [/^\/product\/([^/]+)$/, () => "product"],
  [/^\/cart$/, () => "cart"],
  [/^\/checkout$/, () => "checkout"],
  [/^\/(signin|register)$/, () => "auth"],
  [/^\/orders$/, () => "orders"],
  [/^\/orders\/([^/]+)$/, () => "order"],
];

let current = null; // { controller, view, path }

function match(url) {
  for (const [re, pick] of ROUTES) {
    const m = url.pathname.match(re);
    if (m) return { view: pick(url.searchParams), params: m.slice(1).map(decodeURIComponent) };
  }
  return { view: "notfound", params: [] };
}

/** Goes to `href` (same origin): pushes history unless `replace`, then renders. */
export function navigate(href, { replace = false } = {}) {
  const url = new URL(href, location.href);
  if (history.state) history.replaceState({ ...history.state, scroll: scrollY }, "");
  if (replace) history.replaceState({}, "", url); else history.pushState({}, "", url);
  return route({ scroll: 0 });
}

async function route({ scroll = null, first = false } = {}) {
  const url = new URL(location.href);
  const { view, params } = match(url);
  const sameView = current && current.view === view && current.path === url.pathname;
  const focusKey = sameView && document.activeElement && document.activeElement.dataset
    ? document.activeElement.dataset.key : null;
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = { controller, view, path: url.pathname };
  const main = $("main");
  const show = (...nodes) => { if (!controller.signal.aborted) main.replaceChildren(...nodes.flat().filter((n) => n != null && n !== false)); };
  const ctx = {
    params, query: url.searchParams, signal: controller.signal, show, navigate, sameView,
    title: (t) => { document.title = t ? `${t} – Emporium` : "Emporium"; },
    refreshCart,
  };
  if (!sameView) show(loading());
  try {
    if (view === "notfound") notFound(ctx);
    else await (await import(`./views/${view}.js`)).render(ctx);
  } catch (e) {
    if (e.name === "AbortError" || controller.signal.aborted) return;
    show(el("h1", { tabindex: "-1" }, "This page could not be shown"), errorPanel(e, () => route()));
  }
  if (controller.signal.aborted) return;
  if (scroll != null) scrollTo(0, scroll);
  const back = focusKey && main.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
  if (back) back.focus();
  else if (!first) {
    const heading = main.querySelector("h1");
    if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus({ preventScroll: scroll === null }); }
    announce(document.title.replace(/ – Emporium$/, ""));
  }
}

function notFound(ctx) {
  ctx.title("Page not found");
  ctx.show(el("h1", {}, "Page not found"),
    el("p", {}, "There is nothing at this address. ", el("a", { href: "/" }, "Go to the home page"), "."));
}

/* ---------- the parts that stay ---------- */

function renderHeader() {
  const who = session.auth();
  $("nav-signin").hidden = !!who;
  $("nav-user").hidden = !who;
  $("nav-signout").hidden = !who;
  $("nav-user").textContent = who ? `Hi, ${who.user.name}` : "";
  const n = session.cartCount();
  $("cart-count").textContent = String(n);
  $("nav-cart").setAttribute("aria-label", `Cart, ${n} ${n === 1 ? "item" : "items"}`);
}

/** Refreshes the cart badge from the server (a guest without a cart has 0). */
export async function refreshCart() {
  if (!session.auth() && !session.cartToken()) { session.setCartCount(0); return; }
  try {
    const cart = await api("/api/cart", { cart: true });
    session.setCartCount(cart.item_count);
  } catch (e) {
    if (e.status === 404 && !session.auth()) { session.setCartToken(null); session.setCartCount(0); }
  }
}

async function signOut() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* the local session ends anyway */ }
  session.signOut();
  await refreshCart();
  announce("You are signed out.");
  navigate("/");
}

function onLinkClick(e) {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest("a[href]");
  if (!a || a.target || a.hasAttribute("download")) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || /^\/(api|health|metrics)\b/.test(url.pathname)) return;
  if (url.hash && url.pathname === location.pathname && url.search === location.search) {
    // In-page ("Skip to content"): move the focus there without a history entry.
    const target = document.getElementById(decodeURIComponent(url.hash.slice(1)));
    if (target) { e.preventDefault(); target.focus(); target.scrollIntoView(); }
    return;
  }
  e.preventDefault();
  navigate(url.href);
}

function start() {
  history.scrollRestoration = "manual";
  if (!history.state) history.replaceState({}, "");
  document.addEventListener("click", onLinkClick);
  window.addEventListener("popstate", (e) => route({ scroll: (e.state && e.state.scroll) || 0 }));
  $("nav-signout").addEventListener("click", signOut);
  attachTypeahead($("search-form"), $("search"), $("suggestions"), (q) => navigate(`/?${new URLSearchParams({ q })}`));
  session.onChange(renderHeader);
  renderHeader();
  refreshCart();
  // Test-mode payments are said on every page (GET /api/config).
  clientConfig().then((c) => { $("test-mode").hidden = !c.test_mode; }).catch(() => {});
  watchStatus();
  route({ first: true });
}

start();
