// Steps that several end-to-end tests take, written the way a customer
// goes through the storefront: by labels, roles and visible text.

import assert from "node:assert/strict";

export const PASSWORD = "correct horse battery staple";
export const CARD_OK = "4242424242424242";
export const CARD_DECLINED = "4000000000000002";

let counter = 0;
/** An e-mail address no other test uses. */
export const uniqueEmail = (who) => `${who}-${Date.now().toString(36)}-${++counter}@example.com`;

/** Searches from the header box; resolves when the results are shown. */
export async function search(page, q) {
  await page.getByRole("combobox", { name: "Search products" }).fill(q);
  await page.getByRole("combobox", { name: "Search products" }).press("Enter");
  await page.waitForURL((u) => u.searchParams.get("q") === q);
  await page.locator("#result-count").waitFor();
}

/** The number of products the results page says it found. */
export async function resultTotal(page) {
  return Number(await page.locator("#result-count").getAttribute("data-total"));
}

/** Opens the first result, sets the quantity and adds it to the cart. */
export async function addFirstResult(page, q, quantity = 1) {
  await search(page, q);
  const first = page.locator("#results .card-link").first();
  const name = (await first.textContent()).trim();
  await first.click();
  await page.getByRole("heading", { level: 1, name }).waitFor();
  await page.getByLabel("Quantity").fill(String(quantity));
  await page.getByRole("button", { name: "Add to cart" }).click();
  await page.locator(".add-status .ok").getByText("Added to your cart").waitFor();
  return name;
}

export async function register(page, { name = "Ann Example", email }) {
  await page.getByRole("link", { name: "Sign in" }).click();
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create an account" }).click();
  await page.getByText(`Hi, ${name}`).waitFor();
}

/** Fills the checkout form (e-mail only for guests) and places the order. */
export async function checkout(page, { email = null, method = "standard" } = {}) {
  await page.getByRole("heading", { level: 1, name: "Checkout" }).waitFor();
  if (email) await page.getByLabel("E-mail for the receipt").fill(email);
  await page.getByLabel("Full name").fill("Ann Example");
  await page.getByLabel("Address", { exact: true }).fill("1 Market St");
  await page.getByLabel("City").fill("San Francisco");
  await page.getByLabel("State / region").fill("CA");
  await page.getByLabel("Postal code").fill("94105");
  await page.getByLabel("Country").selectOption("US");
  await page.locator(`#ship-${method}`).check();
  await page.getByRole("button", { name: "Continue to payment" }).click();
  await page.getByRole("heading", { level: 1, name: "Pay for your order" }).waitFor();
  const id = page.url().split("/orders/")[1];
  assert.match(id, /^[0-9a-f-]{36}$/);
  return id;
}

/** Types a card into the payment form and pays. */
export async function pay(page, number) {
  await page.getByLabel("Card number").fill(number);
  await page.getByLabel("Expiry (MM/YY)").fill("12/34");
  await page.getByLabel("Security code").fill("123");
  await page.locator("#pay-button").click();
}

/** The order's status as the page shows it (its badge). */
export async function shownStatus(page) {
  return page.locator(".order-meta .status").getAttribute("data-status");
}
