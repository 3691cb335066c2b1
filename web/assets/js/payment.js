// Paying for an order without card data ever touching Emporium's server
// (it is still this page's script that handles the card: PCI DSS SAQ A-EP,
// see docs/security/pci-dss.md):
// the card form's fields are posted straight from the browser to the
// payment provider's tokenization URL (`GET /api/config`), which answers
// with a single-use token (`pm_…`); only that token goes to
// `POST /api/orders/{id}/pay`. The card inputs have no `name` attribute
// and the form is never submitted, so nothing typed in them can reach
// Emporium, and the page's CSP allows requests to the provider's origin
// alone besides this one.

import { api, clientConfig, ApiError } from "./api.js";
import { el } from "./ui.js";

/** A problem with the card itself, reported by the provider or our checks. */
export class CardError extends Error {
  constructor(message, field = null) { super(message); this.field = field; }
}

/** Reads and checks the card inputs: `{number, month, year, cvc}`. */
export function readCard(form) {
  const number = form.querySelector("#cc-number").value.replace(/[\s-]/g, "");
  const exp = form.querySelector("#cc-exp").value.trim().match(/^(\d{1,2})\s*\/\s*(\d{2}|\d{4})$/);
  const cvc = form.querySelector("#cc-cvc").value.trim();
  if (!/^\d{12,19}$/.test(number)) throw new CardError("Enter the card number (12 to 19 digits).", "cc-number");
  if (!exp || Number(exp[1]) < 1 || Number(exp[1]) > 12) throw new CardError("Enter the expiry date as MM/YY.", "cc-exp");
  if (!/^\d{3,4}$/.test(cvc)) throw new CardError("Enter the 3 or 4 digit security code.", "cc-cvc");
  const year = exp[2].length === 2 ? 2000 + Number(exp[2]) : Number(exp[2]);
  return { number, month: String(Number(exp[1])), year: String(year), cvc };
}

/** Exchanges the card for a provider token; the card goes nowhere else. */
export async function tokenize(card) {
  const { payments } = await clientConfig();
  const body = new URLSearchParams({
    type: "card",
    "card[number]": card.number,
    "card[exp_month]": card.month,
    "card[exp_year]": card.year,
    "card[cvc]": card.cvc,
  });
  let res, data;
  try {
    res = await fetch(payments.tokenization_url, {
      method: "POST",
      headers: { Authorization: `Bearer ${payments.publishable_key}`, "Content-Type": "application/x-www-form-urlencoded" },
      body,
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
    data = await res.json().catch(() => null);
  } catch {
    throw new ApiError({ message: "Could not reach the payment provider. Your card was not charged; please try again." });
  }
  if (res.ok && data && data.id) return data.id;
  const err = (data && data.error) || {};
  if (res.status === 400 || res.status === 402) {
    const param = String(err.param || "");
    const field = /number/.test(param) ? "cc-number" : /exp/.test(param) ? "cc-exp" : /cvc/.test(param) ? "cc-cvc" : null;
    throw new CardError(err.message || "The card was not accepted.", field);
  }
  throw new ApiError({ status: res.status, message: res.status === 429 || res.status >= 500
    ? "The payment provider is busy. Your card was not charged; please try again in a moment."
    : err.message || "The card could not be checked." });
}

/**
 * `POST /api/orders/{id}/pay`: `{outcome: "paid" | "pending", order}`.
 * A declined card throws an ApiError with status 402 (the order stays
 * payable), a 409 means the order cannot be paid any more.
 */
export async function pay(orderId, paymentToken, orderToken) {
  let status = 0;
  const order = await api(`/api/orders/${encodeURIComponent(orderId)}/pay`, {
    method: "POST",
    body: { payment_token: paymentToken },
    orderToken,
    onResponse: (res) => { status = res.status; },
  });
  return { outcome: status === 202 ? "pending" : "paid", order: (order && order.order) || order };
}

/** The card form: three labelled inputs without `name`, and the pay button. */
export function cardForm(amountLabel, onPay) {
  const input = (id, label, props) => el("div", { className: "field" },
    el("label", { for: id }, label),
    el("input", { id, type: "text", spellcheck: "false", autocapitalize: "off", ...props }));
  const button = el("button", { type: "submit", className: "button block", id: "pay-button" }, `Pay ${amountLabel}`);
  const form = el("form", { id: "card-form", className: "card-form", novalidate: true, "aria-labelledby": "pay-heading" },
    el("div", { className: "form-message", role: "alert" }),
    input("cc-number", "Card number", { inputmode: "numeric", autocomplete: "cc-number", maxlength: "23", placeholder: "1234 1234 1234 1234" }),
    el("div", { className: "row" },
      input("cc-exp", "Expiry (MM/YY)", { inputmode: "numeric", autocomplete: "cc-exp", maxlength: "7", placeholder: "MM/YY" }),
      input("cc-cvc", "Security code", { inputmode: "numeric", autocomplete: "cc-csc", maxlength: "4", placeholder: "CVC" })),
    button,
    el("p", { className: "muted small" }, "Your card details go straight to our payment provider and never reach Emporium's servers."));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onPay(form, button);
  });
  return form;
}
