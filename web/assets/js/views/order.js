// One order, `/orders/{id}`: the confirmation after checkout and, while the
// order awaits payment, the payment step (see payment.js). A guest's order
// opens with the `X-Order-Token` kept in this browser at checkout, so the
// page survives a reload; a customer's with their session.
//
// Payment answers: 200 paid; 202 queued (the provider is slow or down: the
// page says so plainly and checks again for a while); 402 declined (the
// order stays payable: try another card); 409 not payable any more (or its
// payment attempts used up).

import { api, clientConfig } from "../api.js";
import * as session from "../session.js";
import { el, money, date, time, statusBadge, statusLabel, errorPanel, announce, formErrors } from "../ui.js";
import { totalsTable } from "./cart.js";
import { cardForm, readCard, tokenize, pay, CardError } from "../payment.js";

const POLL_MS = 3000;
const POLL_TIMES = 20;

const shortId = (id) => id.slice(-8).toUpperCase();

function paymentsList(payments, currency) {
  if (!Array.isArray(payments) || !payments.length) return null;
  const words = { processing: "Processing", queued: "Queued — we will confirm by e-mail", succeeded: "Succeeded", declined: "Declined", failed: "Failed" };
  return el("section", { "aria-labelledby": "payments-heading" },
    el("h2", { id: "payments-heading" }, "Payment attempts"),
    el("ul", { className: "events" }, payments.map((p) => el("li", { dataset: { payment: p.status } },
      el("strong", {}, words[p.status] || p.status), p.amount != null ? ` · ${money(p.amount, currency)}` : "",
      p.decline_code ? ` · ${p.decline_code.replace(/_/g, " ")}` : "",
      // Only a refusal's message is for the customer; an in-flight one is the shop's business.
      p.message && (p.status === "declined" || p.status === "failed") ? ` · ${p.message}` : ""))));
}

function history(events) {
  if (!Array.isArray(events) || !events.length) return null;
  return el("section", { "aria-labelledby": "history-heading" },
    el("h2", { id: "history-heading" }, "History"),
    el("ol", { className: "events" }, events.map((e) => el("li", {},
      el("time", { datetime: new Date(e.at).toISOString() }, date(e.at)), " — ", statusLabel(e.to), e.reason ? ` (${e.reason})` : ""))));
}

function address(a) {
  return el("address", {}, [a.name, a.line1, a.line2, [a.postal_code, a.city, a.region].filter(Boolean).join(" "), a.country, a.phone]
    .filter(Boolean).flatMap((line, i) => (i ? [el("br"), line] : [line])));
}

/** Whether the newest payment attempt is still in flight (202 answered earlier). */
const inFlight = (o) => ["queued", "processing"].includes(o.payment_status)
  || (Array.isArray(o.payments) && o.payments.some((p) => p.status === "queued" || p.status === "processing"));

export async function render(ctx) {
  const id = ctx.params[0];
  const token = session.orderToken(id);
  const load = (signal) => api(`/api/orders/${encodeURIComponent(id)}`, { orderToken: token, signal });
  let order, cardsOn = true;
  try {
    const [o, config] = await Promise.all([load(ctx.signal), clientConfig().catch(() => null)]);
    order = o;
    // Payments switched off: the shop publishes no tokenization URL.
    cardsOn = !config || Boolean(config.payments && config.payments.tokenization_url);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    ctx.title("Order");
    const missing = e.status === 404 || e.status === 400 || e.status === 401;
    ctx.show(el("h1", {}, missing ? "Order not found" : "Order"), missing
      ? el("p", {}, session.auth() ? "There is no such order in your account." : "Sign in to see this order. ",
        session.auth() ? null : el("a", { href: `/signin?${new URLSearchParams({ next: location.pathname })}` }, "Sign in"))
      : errorPanel(e, () => ctx.navigate(location.href, { replace: true })));
    return;
  }

  const status = el("div", { className: "pay-status", role: "status" });
  let polls = 0;

  // Re-reads the order until the queued payment settles (or we give up asking).
  function poll() {
    if (ctx.signal.aborted || polls++ >= POLL_TIMES) return;
    setTimeout(async () => {
      if (ctx.signal.aborted) return;
      try {
        const fresh = await load(ctx.signal);
        if (fresh.status !== "pending_payment" || !inFlight(fresh)) { draw(fresh, fresh.status === "paid" ? "Payment received — thank you!" : null); return; }
      } catch { /* keep the page; try again */ }
      poll();
    }, POLL_MS);
  }

  async function onPay(form, button) {
    formErrors(form, null);
    status.replaceChildren();
    let card;
    try { card = readCard(form); } catch (e) { showCardError(form, e); return; }
    button.disabled = true;
    button.textContent = "Paying…";
    try {
      const paymentToken = await tokenize(card);
      for (const input of form.querySelectorAll("input")) input.value = ""; // the card is not kept
      const result = await pay(id, paymentToken, token);
      if (result.outcome === "pending") {
        draw(result.order && result.order.id ? result.order : { ...order, payments: [{ status: "queued" }] });
        poll();
      } else {
        draw(result.order && result.order.id ? result.order : { ...order, status: "paid" }, "Payment received — thank you!");
      }
    } catch (e) {
      button.disabled = false;
      button.textContent = `Pay ${money(order.totals.total, order.currency)}`;
      if (e instanceof CardError) { showCardError(form, e); return; }
      if (e.status === 402) {
        const code = e.context && e.context.decline_code;
        const message = `Your card was declined${code ? ` (${code.replace(/_/g, " ")})` : ""}. Nothing was charged — please try another card.`;
        formErrors(form, { ...e, message, details: [] });
        form.classList.add("declined");
        form.querySelector("#cc-number").focus();
        announce(message);
        // Show the declined attempt in the list, leaving the form as it is.
        load().then((fresh) => {
          const slot = document.getElementById("payments-slot");
          if (slot && !ctx.signal.aborted) slot.replaceChildren(...[paymentsList(fresh.payments, fresh.currency)].filter(Boolean));
        }).catch(() => {});
        return;
      }
      if (!e.status || e.status >= 500) {
        // The answer was lost, not necessarily the payment: see what the order says.
        const fresh = await load().catch(() => null);
        if (fresh && (fresh.status !== "pending_payment" || inFlight(fresh))) {
          draw(fresh, fresh.status === "paid" ? "Payment received — thank you!" : null);
          if (inFlight(fresh)) poll();
          return;
        }
      }
      if (e.status === 409 && e.code === "too_many_payment_attempts") {
        const fresh = await load().catch(() => order);
        draw(fresh, null, "This order has had too many payment attempts. Please contact us to complete it.");
        return;
      }
      if (e.status === 409) {
        const fresh = await load().catch(() => order);
        draw(fresh, null, `This order can no longer be paid (it is ${statusLabel(fresh.status).toLowerCase()}).`);
        return;
      }
      formErrors(form, e);
    }
  }

  function showCardError(form, e) {
    formErrors(form, { message: e.message, details: [] });
    if (e.field) form.querySelector(`#${e.field}`).focus();
  }

  async function cancel() {
    if (!confirm("Cancel this order? The items go back on sale.")) return;
    try {
      draw(await api(`/api/orders/${encodeURIComponent(id)}/cancel`, { method: "POST", orderToken: token }), "Your order was cancelled.");
    } catch (e) { status.replaceChildren(errorPanel(e)); }
  }

  // The whole page for `o`; `done` and `problem` are messages to show on top.
  function draw(o, done = null, problem = null) {
    order = o;
    const pending = o.status === "pending_payment";
    const queued = pending && inFlight(o);
    ctx.title(`Order ${shortId(o.id)}`);
    const heading = o.status === "paid" || o.status === "fulfilled" ? "Thank you — your order is confirmed"
      : queued ? "Payment pending" : pending ? "Pay for your order" : `Order ${shortId(o.id)}`;
    status.replaceChildren(...[
      done ? el("p", { className: "ok" }, done) : null,
      problem ? el("p", { className: "warn" }, problem) : null,
      queued ? el("p", { className: "notice pending", id: "payment-pending" }, "Payment pending — we will confirm by e-mail. You can close this page.") : null,
    ].filter(Boolean));
    const payBox = pending && !queued ? el("section", { className: "pay-box", "aria-labelledby": "pay-heading" },
      el("h2", { id: "pay-heading" }, "Payment"),
      el("p", { className: "muted small" }, `Your items are reserved until ${time(o.expires_at)}; unpaid, the order is then cancelled.`),
      cardsOn ? cardForm(money(o.totals.total, o.currency), onPay)
        : el("p", { className: "notice" }, "Card payments are not available right now. Your order is kept; we will contact you about paying it.")) : null;
    ctx.show(
      el("h1", {}, heading),
      el("p", { className: "order-meta" }, `Order ${shortId(o.id)} · placed ${date(o.created_at)} · `, statusBadge(o.status)),
      status,
      el("div", { className: "order-layout" },
        el("div", {},
          payBox,
          el("section", { "aria-labelledby": "items-heading" },
            el("h2", { id: "items-heading" }, "Items"),
            el("ul", { className: "mini-lines" }, o.lines.map((l) =>
              el("li", {}, el("span", {}, `${l.quantity} × `, el("a", { href: `/product/${encodeURIComponent(l.product_id)}` }, l.name)),
                el("span", {}, money(l.line_total ?? l.unit_price * l.quantity, o.currency))))),
            totalsTable(o.totals, o.currency)),
          el("div", { id: "payments-slot" }, paymentsList(o.payments, o.currency)),
          history(o.history)),
        el("aside", { className: "summary-box", "aria-label": "Delivery" },
          el("h2", {}, "Delivery"),
          address(o.shipping_address),
          el("p", { className: "muted small" }, `Shipping: ${o.shipping_method.replace(/_/g, " ")}`),
          o.email ? el("p", { className: "muted small" }, `Receipt to ${o.email}`) : null,
          pending && !queued ? el("button", { type: "button", className: "link-button", onclick: cancel }, "Cancel order") : null,
          session.auth() ? el("p", {}, el("a", { href: "/orders" }, "All your orders")) : null)));
    if (done || problem) {
      const h1 = document.querySelector("#main h1");
      h1.setAttribute("tabindex", "-1");
      h1.focus();
      announce(done || problem);
    }
  }

  draw(order);
  if (order.status === "pending_payment" && inFlight(order)) poll();
}
