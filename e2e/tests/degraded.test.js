// Degraded states are shown plainly, never as a blank page: a payment the
// provider could not take yet (202: "Payment pending — we will confirm by
// e-mail", then confirmed once the provider is back), and the shop
// answering 429 or 503.
//
// The provider outage is real: right after the card is tokenized the test
// switches on paysim's "down" fault (`POST /_control/faults`, with the
// simulator's secret key), so the shop's payment call fails and is queued.
// The 429 and 503 answers, and the shop's degraded status (no primary
// database: browsing only), are played by the browser (request routing):
// the embedded shop has no switch to produce them on demand. The real
// database outage is shown by the API tests (tests/api/failover.rs) and the
// drills (scripts/drill.sh).

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { startShop, canPay } from "../lib/shop.js";
import { join } from "node:path";
import { launchBrowser, openPage, finish, SCREENSHOTS } from "../lib/browser.js";
import { addFirstResult, checkout, pay, shownStatus, uniqueEmail, CARD_OK } from "../lib/flows.js";

describe("storefront: degraded states", () => {
  let shop, browser, payments;
  before(async () => {
    [shop, browser] = await Promise.all([startShop(), launchBrowser()]);
    payments = await canPay(shop.url);
  });
  after(async () => { await browser?.close(); await shop?.stop(); });

  it("provider down: payment pending, then confirmed when it is back", async (t) => {
    if (!payments) { t.skip("the server has no POST /api/orders/{id}/pay yet"); return; }
    const provider = new URL(shop.config.payments.tokenization_url).origin;
    const faults = (body) => fetch(`${provider}/_control/faults`, {
      method: "POST", headers: { Authorization: `Bearer ${shop.paysimSecretKey}`, "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const tab = await openPage(browser);
    const { page } = tab;
    await page.goto(shop.url);
    await addFirstResult(page, "wireless mouse");
    await page.goto(`${shop.url}/checkout`);
    await checkout(page, { email: uniqueEmail("queued") });
    // Tokenizing works; then the provider goes down before the shop charges.
    await page.route(shop.config.payments.tokenization_url, async (route) => {
      const response = await route.fetch();
      const set = await faults({ down: true });
      assert.equal(set.status, 200, "paysim accepted the fault");
      await route.fulfill({ response });
    });
    try {
      await pay(page, CARD_OK);
      await page.getByRole("heading", { level: 1, name: "Payment pending" }).waitFor({ timeout: 60_000 });
      assert.match(await page.locator("#payment-pending").textContent(), /Payment pending — we will confirm by e-mail/);
      assert.equal(await shownStatus(page), "pending_payment");
      await page.screenshot({ path: join(SCREENSHOTS, "payment-pending.png"), fullPage: true }).catch(() => {});
    } finally {
      await faults({});
    }
    // The shop retries the queued payment; the page keeps asking and shows the result.
    await page.getByRole("heading", { level: 1, name: "Thank you — your order is confirmed" }).waitFor({ timeout: 60_000 });
    assert.equal(await shownStatus(page), "paid");
    await finish(tab, "payment-pending-then-paid");
  });

  it("a 503 or 429 from the shop shows a message and a way to retry", async () => {
    const tab = await openPage(browser, { width: 375, height: 812 });
    const { page } = tab;
    let answer = { status: 503, headers: {}, body: { error: { code: "unavailable", message: "the shop is busy", details: [] } } };
    await page.route("**/api/products?*", (route) => (answer
      ? route.fulfill({ status: answer.status, headers: answer.headers, contentType: "application/json", body: JSON.stringify(answer.body) })
      : route.continue()));

    await page.goto(`${shop.url}/?q=laptop`);
    await page.getByRole("alert").getByText("The shop is busy or briefly unavailable. Please try again in a moment.").waitFor();
    assert.ok(await page.getByRole("heading", { level: 1 }).isVisible(), "the page keeps its heading");

    answer = { status: 429, headers: { "Retry-After": "7" }, body: { error: { code: "rate_limited", message: "too many requests", details: [] } } };
    await page.getByRole("button", { name: "Try again" }).click();
    await page.getByRole("alert").getByText("Too many requests right now. Please wait 7 seconds and try again.").waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, "rate-limited.png"), fullPage: true }).catch(() => {});

    answer = null; // the shop is back
    await page.getByRole("button", { name: "Try again" }).click();
    await page.locator("#results").waitFor();
    await finish(tab, "degraded-503-429-recovered");
  });

  it("degraded: a banner says checkout is paused, the button is disabled, and both go when the shop recovers", async () => {
    const tab = await openPage(browser);
    const { page } = tab;
    let degraded = true;
    await page.route("**/api/status", (route) => route.fulfill({
      status: 200, contentType: "application/json",
      body: JSON.stringify(degraded
        ? { status: "degraded", writes: false, message: "You can browse the shop; checkout is paused for a moment." }
        : { status: "ok", writes: true }),
    }));
    await page.goto(shop.url);
    await addFirstResult(page, "usb cable");
    await page.goto(`${shop.url}/checkout`);
    const banner = page.locator("#degraded");
    await banner.getByText("checkout is paused").waitFor();
    const button = page.locator("#place-order");
    await button.waitFor();
    assert.equal(await button.isDisabled(), true, "checkout is disabled while degraded");
    await page.screenshot({ path: join(SCREENSHOTS, "degraded-banner.png"), fullPage: true }).catch(() => {});

    degraded = false; // the shop recovers: the next poll (or a reload) clears the banner
    await page.reload();
    await page.locator("#place-order").waitFor();
    await page.waitForFunction(() => document.getElementById("degraded").hidden);
    assert.equal(await page.locator("#place-order").isDisabled(), false, "checkout is enabled again");
    await finish(tab, "degraded-banner-recovered");
  });
});
