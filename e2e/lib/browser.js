// Headless Chromium for the end-to-end tests: Debian's /usr/bin/chromium
// driven by playwright-core (no browser download), a fresh context per
// test, and a record of what went wrong in the page (uncaught errors,
// Content-Security-Policy violations, console errors) that a test asserts
// is empty. `finish` saves a screenshot of each test into e2e/screenshots/.

import { chromium } from "playwright-core";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import assert from "node:assert/strict";
import { REPO } from "./shop.js";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const SCREENSHOTS = join(REPO, "e2e/screenshots");

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

/** A new page in its own context (own storage), with problems recorded. */
export async function openPage(browser, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height } });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`uncaught: ${e.message}`));
  page.on("console", (m) => {
    // The browser logs every 4xx/5xx answer as a console error; the app
    // handles those (a 402 for a declined card, a 404 for a stale cart).
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  return { page, context, problems };
}

/**
 * Saves `e2e/screenshots/<name>.png`, closes the context and checks the
 * page had no problems and fits its window's width.
 */
export async function finish({ page, context, problems }, name) {
  // Responsive down to 375 px: nothing wider than the window.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) problems.push(`the page is ${overflow} px wider than the window`);
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  await context.close();
  assert.deepEqual(problems, [], "the page reported errors");
}
