// The cart: a guest's survives a reload, quantities are edited in place
// with the server's totals, signing up merges the guest's cart into the
// new account's, and the account's cart comes back after signing out and in.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startShop } from "../lib/shop.js";
import { launchBrowser, openPage, finish } from "../lib/browser.js";
import { addFirstResult, register, uniqueEmail, PASSWORD } from "../lib/flows.js";

/** The cart's total as the page shows it, in cents. */
async function shownTotal(page) {
  const text = await page.locator(".totals .grand td").textContent();
  return Math.round(Number(text.replace(/[^0-9.]/g, "")) * 100);
}

describe("storefront: cart", () => {
  let shop, browser;
  before(async () => { [shop, browser] = await Promise.all([startShop(), launchBrowser()]); });
  after(async () => { await browser?.close(); await shop?.stop(); });

  it("a guest's cart survives a reload and quantities are editable", async () => {
    const tab = await openPage(browser);
    const { page } = tab;
    await page.goto(shop.url);
    const name = await addFirstResult(page, "wireless mouse", 2);
    assert.equal(await page.locator("#cart-count").textContent(), "2");

    await page.getByRole("link", { name: /^Cart/ }).click();
    await page.getByRole("heading", { level: 1, name: "Your cart" }).waitFor();
    assert.ok(await page.getByRole("link", { name }).isVisible());
    const before = await shownTotal(page);

    await page.reload();
    await page.getByRole("link", { name }).waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "2");
    assert.equal(await shownTotal(page), before, "same cart after a reload");

    // Change the quantity: the line and the totals are the server's answer.
    const qty = page.getByLabel(`Quantity of ${name}`);
    assert.equal(await qty.inputValue(), "2");
    await qty.fill("3");
    await qty.press("Tab");
    await page.getByText(`Quantity of ${name} set to 3.`).first().waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "3");
    const after = await shownTotal(page);
    assert.ok(after > before, `total grew (${before} → ${after})`);
    // The server agrees.
    const token = await page.evaluate(() => JSON.parse(localStorage.getItem("emporium.cart")));
    const cart = await (await fetch(`${shop.url}/api/cart`, { headers: { "x-cart-token": token } })).json();
    assert.equal(cart.item_count, 3);
    assert.equal(cart.totals.total, after);

    await page.getByRole("button", { name: `Remove ${name}` }).click();
    await page.getByText("Your cart is empty").waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "0");
    await finish(tab, "cart-reload-quantities");
  });

  it("signing up merges the guest's cart into the account's", async () => {
    const tab = await openPage(browser);
    const { page } = tab;
    await page.goto(shop.url);
    const name = await addFirstResult(page, "shirt", 1);
    const email = uniqueEmail("merge");
    await register(page, { name: "Merge Tester", email });
    // The guest token is gone; the cart is the account's now.
    assert.equal(await page.evaluate(() => localStorage.getItem("emporium.cart")), null);
    await page.getByRole("link", { name: /^Cart/ }).click();
    await page.getByRole("link", { name }).waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "1");
    await page.reload();
    await page.getByRole("link", { name }).waitFor();

    // Signing out leaves an empty guest cart; signing in brings the account's back.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("link", { name: "Sign in" }).waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "0");
    await page.getByRole("link", { name: "Sign in" }).click();
    await page.getByLabel("Email").fill(email);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("Hi, Merge Tester").waitFor();
    assert.equal(await page.locator("#cart-count").textContent(), "1");
    await finish(tab, "cart-merged-at-signup");
  });
});
