// Small building blocks shared by the pages: creating elements (text is
// always set as text, never parsed as HTML), money and dates, the product
// placeholder tile, order status badges, error panels and form errors.

/**
 * Builds an element. `props`: `className`, `on*` handlers and `dataset` are
 * set as properties, `text` as text content, anything else as an attribute
 * (null or false leaves it out). Children are nodes or strings.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v == null || v === false) continue;
    if (k === "className" || k.startsWith("on")) node[k] = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  node.append(...children.flat().filter((c) => c != null && c !== false));
  return node;
}

export const $ = (id) => document.getElementById(id);
export const num = new Intl.NumberFormat("en-US");

const formatters = new Map();
/** Formats integer minor units (cents) in the currency's own decimals. */
export function money(amount, currency = "USD", whole = false) {
  const key = currency + whole;
  if (!formatters.has(key)) {
    let f = null;
    try {
      f = new Intl.NumberFormat("en-US", { style: "currency", currency,
        ...(whole ? { minimumFractionDigits: 0, maximumFractionDigits: 0 } : {}) });
    } catch { /* unknown currency code */ }
    formatters.set(key, f);
  }
  const f = formatters.get(key);
  if (!f) return `${(amount / 100).toFixed(2)} ${currency}`;
  const digits = new Intl.NumberFormat("en-US", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
  return f.format(amount / 10 ** digits);
}

const dateFormat = new Intl.DateTimeFormat("en-US", { dateStyle: "medium", timeStyle: "short" });
export const date = (ms) => dateFormat.format(new Date(ms));
const timeFormat = new Intl.DateTimeFormat("en-US", { timeStyle: "short" });
export const time = (ms) => timeFormat.format(new Date(ms));

function initials(name) {
  const words = String(name).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  return words.slice(0, 2).map((w) => Array.from(w)[0].toUpperCase()).join("") || "?";
}

/**
 * A coloured tile with the product's initials, standing in for its image:
 * product images are remote URLs, which the page never loads. The colour
 * is one of twelve hues picked by the name (classes, not inline styles).
 */
export function placeholder(name, size = "") {
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.codePointAt(0)) % 9973;
  return el("div", { className: `thumb hue-${hash % 12} ${size}`.trim(), "aria-hidden": "true" }, initials(name));
}

const STATUS = {
  pending_payment: "Awaiting payment",
  paid: "Paid",
  fulfilled: "Shipped",
  cancelled: "Cancelled",
  refunded: "Refunded",
};
export const statusLabel = (s) => STATUS[s] || String(s).replace(/_/g, " ");
export const statusBadge = (s) => el("span", { className: `status status-${s}`, dataset: { status: s } }, statusLabel(s));

/** Tells screen readers what just happened (the polite live region). */
export function announce(text) {
  const box = $("announcer");
  box.textContent = "";
  setTimeout(() => { box.textContent = text; }, 30);
}

/** A panel explaining a failure, with an optional "Try again" button. */
export function errorPanel(e, retry) {
  return el("div", { className: "notice error", role: "alert" },
    el("p", {}, el("strong", {}, e.message || "Something went wrong.")),
    e.details && e.details.length ? el("ul", {}, e.details.map((d) => el("li", {}, d.field ? `${d.field}: ${d.message}` : d.message))) : null,
    retry ? el("p", {}, el("button", { type: "button", className: "button secondary", onclick: retry }, "Try again")) : null,
    e.requestId ? el("p", { className: "muted small" }, `Reference: ${e.requestId}`) : null);
}

/** "Loading…" for the time a page waits for the API. */
export const loading = (what = "Loading…") => el("p", { className: "muted loading", role: "status" }, what);

/**
 * Shows an API error on a form: each detail next to its field (matched by
 * `data-field`), the message above the form; focuses the first bad field.
 */
export function formErrors(form, e) {
  for (const old of form.querySelectorAll(".field-error")) old.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const box = form.querySelector(".form-message");
  let first = null;
  const rest = [];
  for (const d of (e && e.details) || []) {
    const field = String(d.field || "").replace(/^address\./, "");
    const input = field && form.querySelector(`[data-field="${CSS.escape(field)}"]`);
    if (!input) { rest.push(d); continue; }
    const id = `${input.id}-error`;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    input.after(el("p", { className: "field-error", id }, d.message));
    first = first || input;
  }
  if (box) {
    box.replaceChildren();
    if (e) box.append(errorPanel({ ...e, details: rest }));
  }
  if (first) first.focus(); else if (e && box) box.scrollIntoView({ block: "nearest" });
}

/** A labelled input (or select, with `options`) for a form. */
export function field(label, props, hint) {
  const id = props.id;
  const control = props.options
    ? el("select", { ...props, options: null }, props.options.map(([v, t]) => el("option", { value: v }, t)))
    : el("input", props);
  return el("div", { className: "field" }, el("label", { for: id }, label), hint ? el("p", { className: "hint muted", id: `${id}-hint` }, hint) : null, control);
}

/** A product in a grid: placeholder, name (a link to its page), brand, price. */
export function productCard(p) {
  return el("li", { className: "card" },
    placeholder(p.name),
    el("div", { className: "body" },
      el("h3", {}, el("a", { className: "card-link", href: `/product/${encodeURIComponent(p.id)}`, dataset: { key: `p-${p.id}` } }, p.name)),
      p.brand ? el("p", { className: "brand" }, p.brand) : null,
      el("p", { className: "price" }, money(p.price.amount, p.price.currency))));
}
