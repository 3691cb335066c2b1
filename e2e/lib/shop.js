// Starts and stops the shop for the end-to-end tests: the already built
// `target/debug/emporium serve` on port 0 with a fresh data directory (the
// demo catalog is imported on first start), and — unless the server
// already publishes a reachable card tokenization URL — `emporium paysim`
// beside it, the payment-provider simulator, on port 0 too.
//
// Environment: EMPORIUM_BIN (default ../target/debug/emporium),
// E2E_BASE_URL (test a server that is already running instead),
// E2E_OWN_PAYSIM=1 (always start our own paysim), TEST_LOG=1 (print the
// servers' output).

import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, "../..");
const BIN = process.env.EMPORIUM_BIN || join(REPO, "target/debug/emporium");
const START_TIMEOUT_MS = 120_000;

/** Runs `emporium args…` until it prints a line matching `ready`; resolves with the match. */
function launch(args, env, ready, label) {
  return new Promise((resolveStart, reject) => {
    const child = spawn(BIN, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    const output = [];
    let done = false;
    const timer = setTimeout(() => fail(new Error(`${label} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    function fail(err) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      err.message += `\n--- ${label} output ---\n${output.join("").slice(-4000)}`;
      reject(err);
    }
    const onData = (chunk) => {
      const text = chunk.toString();
      output.push(text);
      if (process.env.TEST_LOG) process.stderr.write(`[${label}] ${text}`);
      const m = !done && text.match(ready);
      if (m) { done = true; clearTimeout(timer); resolveStart({ child, match: m }); }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", (e) => fail(new Error(`cannot run ${BIN}: ${e.message} (build it with: cargo build -p emporium)`)));
    child.on("exit", (code) => fail(new Error(`${label} exited with ${code} before it was ready`)));
  });
}

/** Stops a child: SIGTERM (graceful shutdown), SIGKILL after 5 s. */
function stop(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    child.once("exit", () => { clearTimeout(timer); done(); });
    child.kill("SIGTERM");
  });
}

async function reachable(url) {
  try {
    // Any answer (a 401 without a key included) means the provider is there.
    await fetch(url, { method: "POST", signal: AbortSignal.timeout(2000) });
    return true;
  } catch { return false; }
}

/**
 * Starts a shop and returns `{url, config, paysimSecretKey, stop()}`;
 * `config` is its `GET /api/config`, `paysimSecretKey` the secret key of the
 * simulator it pays with (the built-in one's is made per data directory).
 * Each call gets its own data directory.
 */
export async function startShop() {
  if (process.env.E2E_BASE_URL) {
    const url = process.env.E2E_BASE_URL.replace(/\/$/, "");
    const config = await (await fetch(`${url}/api/config`)).json();
    return { url, config, paysimSecretKey: process.env.E2E_PAYSIM_SECRET_KEY || "sk_test_paysim", stop: async () => {} };
  }
  const dir = await mkdtemp(join(tmpdir(), "emporium-e2e-"));
  const children = [];
  const serve = async (env) => {
    const { child, match } = await launch(
      ["serve", "--addr", "127.0.0.1:0", "--data-dir", dir], env,
      /listening on (http:\/\/127\.0\.0\.1:\d+)/, "emporium");
    children.push(child);
    const url = match[1];
    const config = await (await fetch(`${url}/api/config`)).json();
    return { child, url, config };
  };
  const cleanup = async () => {
    await Promise.all(children.map(stop));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // The browser loads every page and asset from 127.0.0.1: no storefront limit.
    const env = { RUST_LOG: process.env.RUST_LOG || "warn", EMPORIUM_LIMITS__WEB_REQUESTS_PER_IP: "1000000" };
    let shop = await serve(env);
    let paysimSecretKey = "sk_test_paysim";
    const tokenization = shop.config.payments && shop.config.payments.tokenization_url;
    if (process.env.E2E_OWN_PAYSIM || !tokenization || !(await reachable(tokenization))) {
      // No provider where the shop says: run paysim and restart the shop pointing at it.
      const { child, match } = await launch(
        ["paysim", "--addr", "127.0.0.1:0", "--ledger", join(dir, "paysim.db")], env,
        /paysim listening on (http:\/\/127\.0\.0\.1:\d+)/, "paysim");
      children.push(child);
      await stop(shop.child);
      shop = await serve({
        ...env,
        EMPORIUM_PAYMENTS__MODE: "provider",
        EMPORIUM_PAYMENTS__PROVIDER_URL: match[1],
        EMPORIUM_PAYMENTS__TOKENIZATION_URL: `${match[1]}/v1/payment_methods`,
      });
    } else {
      // The built-in simulator: its keys are the data directory's own.
      paysimSecretKey = JSON.parse(await readFile(join(dir, "paysim-keys.json"), "utf8")).secret_key;
    }
    return { url: shop.url, config: shop.config, paysimSecretKey, stop: cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Whether the shop has the payment endpoint (`POST /api/orders/{id}/pay`). */
export async function canPay(url) {
  const doc = await (await fetch(`${url}/api/openapi.json`)).json();
  return Boolean(doc.paths && doc.paths["/api/orders/{id}/pay"]);
}
