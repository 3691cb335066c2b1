// Sign in (`/signin`) and create an account (`/register`). The guest cart
// token goes along (`X-Cart-Token`), so the server merges the guest's cart
// into the customer's; the guest token is then forgotten. `?next=` says
// where to go afterwards (checkout sends customers here and back).

import { api } from "../api.js";
import * as session from "../session.js";
import { el, field, formErrors, announce } from "../ui.js";

/**
 * Where `?next=` may send the customer: a path of this shop, else home. It
 * must start with one `/` not followed by `/` or `\` (browsers read
 * `/\evil.com` like `//evil.com`: another site), and must resolve to this
 * origin (the URL parser drops tabs and newlines, so `/\t/evil.com` is
 * `//evil.com` too). The path is given back as the parser resolved it.
 */
export function nextPath(query) {
  const next = query.get("next");
  if (!next || !/^\/(?![/\\])/.test(next)) return "/";
  let url;
  try { url = new URL(next, location.origin); } catch { return "/"; }
  if (url.origin !== location.origin) return "/";
  return `${url.pathname}${url.search}${url.hash}`;
}

export async function render(ctx) {
  const register = location.pathname === "/register";
  const next = nextPath(ctx.query);
  const title = register ? "Create an account" : "Sign in";
  ctx.title(title);
  const who = session.auth();
  if (who) {
    ctx.show(el("h1", {}, title), el("p", {}, `You are signed in as ${who.user.email}. `,
      el("a", { href: next }, "Continue"), "."));
    return;
  }
  const other = `${register ? "/signin" : "/register"}${next !== "/" ? `?${new URLSearchParams({ next })}` : ""}`;
  const button = el("button", { type: "submit", className: "button" }, title);
  const form = el("form", { className: "stack narrow", novalidate: true },
    el("div", { className: "form-message" }),
    register ? field("Your name", { id: "name", type: "text", autocomplete: "name", required: true, maxlength: "100", dataset: { field: "name" } }) : null,
    field("Email", { id: "email", type: "email", autocomplete: "email", required: true, dataset: { field: "email" } }),
    field("Password", { id: "password", type: "password", autocomplete: register ? "new-password" : "current-password", required: true,
      minlength: register ? "10" : null, maxlength: "128", dataset: { field: "password" },
      "aria-describedby": register ? "password-hint" : null }, register ? "10 to 128 characters; avoid common passwords." : null),
    button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    const body = register
      ? { name: value("name").trim(), email: value("email").trim(), password: value("password") }
      : { email: value("email").trim(), password: value("password") };
    button.disabled = true;
    try {
      const answer = await api(register ? "/api/auth/register" : "/api/auth/login", { method: "POST", body, cart: true });
      session.signIn(answer);
      session.setCartToken(null); // merged into the customer's cart by the server
      await ctx.refreshCart();
      announce(register ? `Welcome, ${answer.user.name}. Your account is ready.` : `Welcome back, ${answer.user.name}.`);
      ctx.navigate(next, { replace: true });
    } catch (err) {
      formErrors(form, err);
      button.disabled = false;
    }
  });
  ctx.show(el("h1", {}, title), form,
    el("p", {}, register ? "Already have an account? " : "New here? ", el("a", { href: other }, register ? "Sign in" : "Create an account"),
      next === "/checkout" ? el("span", {}, " · or ", el("a", { href: "/checkout" }, "check out as a guest")) : null));
}
