// Signing in and out safely: `?next=` (where sign-in goes afterwards)
// never leads off the shop, however it is written, and signing out on a
// shared device forgets what the browser kept for the customer (guest
// order tokens, the guest cart token, the checkout form).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startShop } from "../lib/shop.js";
import { launchBrowser, openPage, finish } from "../lib/browser.js";
import { addFirstResult, register, checkout, uniqueEmail, PASSWORD } from "../lib/flows.js";

/** `?next=` values that point (or once pointed) at another site. */
const HOSTILE = [
  "/\\evil.example",
  "/\\\\evil.example",
  "//evil.example",
  "///evil.example",
  "/\t/evil.example",
  "https://evil.example/",
  "http:evil.example",
  "javascript:alert(1)",
  "%2F%2Fevil.example",
  " //evil.example",
];

/** What the browser keeps for the customer (localStorage and sessionStorage). */
const kept = (page) => page.evaluate(() => ({
  orders: localStorage.getItem("emporium.orders"),
  cart: localStorage.getItem("emporium.cart"),
  session: Object.keys(sessionStorage).filter((k) => k.startsWith("emporium.")),
}));

describe("storefront: signing in and out", () => {
  let shop, browser;
  before(async () => { [shop, browser] = await Promise.all([startShop(), launchBrowser()]); });
  after(async () => { await browser?.close(); await shop?.stop(); });

  it("?next= never leads off the shop", async () => {
    const tab = await openPage(browser);
    const { page } = tab;
    const origin = new URL(shop.url).origin;
    await page.goto(shop.url);
    await register(page, { name: "Next Tester", email: uniqueEmail("next") });
    const continueTo = async (next) => {
      await page.goto(`${shop.url}/signin?${new URLSearchParams({ next })}`);
      return page.getByRole("link", { name: "Continue" }).evaluate((a) => a.href);
    };
    for (const next of HOSTILE) {
      const href = await continueTo(next);
      assert.equal(new URL(href).origin, origin, `?next=${JSON.stringify(next)} links to ${href}`);
    }
    // Paths of the shop are kept, query and all.
    assert.equal(await continueTo("/cart"), `${origin}/cart`);
    assert.equal(await continueTo("/?q=lamp&page=2"), `${origin}/?q=lamp&page=2`);
    // Encoded slashes stay a path of the shop.
    assert.equal(new URL(await continueTo("/%5Cevil.example")).origin, origin);

    // Signing in through the form with a hostile ?next= lands on the home page.
    const email = await page.evaluate(() => JSON.parse(localStorage.getItem("emporium.auth")).user.email);
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in" }).waitFor();
    await page.goto(`${shop.url}/signin?next=${encodeURIComponent("/\\evil.example")}`);
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Hi, Next Tester").waitFor();
    await page.waitForURL((u) => u.origin === origin && u.pathname === "/");
    await finish(tab, "signin-next-stays-on-the-shop");
  });

  it("signing out forgets the guest's orders and cart on this device", async () => {
    const tab = await openPage(browser);
    const { page } = tab;
    await page.goto(shop.url);
    // A guest order, then an account on the same device.
    await addFirstResult(page, "backpack");
    await page.getByRole("link", { name: /^Cart/ }).click();
    await page.getByRole("link", { name: "Check out" }).click();
    const id = await checkout(page, { email: uniqueEmail("shared") });
    assert.ok((await kept(page)).orders.includes(id), "the guest order's token is kept");
    await register(page, { name: "Shared Device", email: uniqueEmail("shared-account") });
    assert.ok((await kept(page)).orders.includes(id), "kept while signed in");

    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in" }).waitFor();
    assert.deepEqual(await kept(page), { orders: null, cart: null, session: [] });
    // The next person on this device sees no guest orders.
    await page.goto(`${shop.url}/orders`);
    await page.getByText("No guest orders in this browser.").waitFor();
    assert.equal(await page.locator(`tr[data-order="${id}"]`).count(), 0);
    await finish(tab, "signout-forgets-guest-tokens");
  });
});
