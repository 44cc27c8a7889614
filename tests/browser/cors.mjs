// A page on one origin calls Doorway on another with fetch(..., {credentials: "include"}), in
// the system's headless Chromium. Run by the Rust test `cors_browser`, which serves the pages
// and starts Doorway; it passes one JSON argument:
//   {chromium, pages: [{url, email}], api, password}
// and reads, on stdout, one JSON array: per page, each step's {status, body} or {error}.
import { chromium } from "playwright-core";

const { chromium: executablePath, pages, api, password } = JSON.parse(process.argv[2]);

// A hung browser must fail the test, not hold the suite.
setTimeout(() => {
  console.error("cors.mjs: timed out after 60 s");
  process.exit(3);
}, 60_000).unref();

// Sign up, who-am-I by cookie, refresh by cookie, DELETE a session, who-am-I by bearer token,
// sign out, and who-am-I again: every call cross-origin, with credentials.
async function scenario({ api, email, password }) {
  async function call(path, init = {}) {
    try {
      const response = await fetch(api + path, { credentials: "include", ...init });
      const text = await response.text();
      let body = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: response.status, body };
    } catch (e) {
      return { error: `${e.name}: ${e.message}` };
    }
  }
  const json = (body) => ({
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const steps = {};
  steps.signUp = await call("/api/auth/sign-up", json({ email, password, name: "Browser User" }));
  steps.meByCookie = await call("/api/auth/me");
  steps.refresh = await call("/api/auth/refresh", json({}));
  steps.meAfterRefresh = await call("/api/auth/me");
  // A method only a preflight lets through, with the cookie.
  steps.revokeUnknownSession = await call("/api/auth/sessions/ses_unknown", { method: "DELETE" });
  const token = steps.signUp.body?.data?.session?.token ?? "none";
  steps.meByBearer = await call("/api/auth/me", {
    credentials: "omit",
    headers: { authorization: `Bearer ${token}` },
  });
  steps.signOut = await call("/api/auth/sign-out", json({}));
  steps.meAfterSignOut = await call("/api/auth/me");
  return steps;
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  // As the machine's probe found: without these, Chromium calls home at start and its refused
  // connections pile up on a closed network.
  args: [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const results = [];
  for (const { url, email } of pages) {
    // A fresh context per page: its own cookie jar, as separate visitors.
    const context = await browser.newContext();
    const page = await context.newPage();
    const loaded = await page.goto(url);
    if (!loaded || !loaded.ok()) throw new Error(`the app page ${url} did not load`);
    results.push({ url, origin: await page.evaluate(() => location.origin), steps: await page.evaluate(scenario, { api, email, password }) });
    await context.close();
  }
  process.stdout.write(JSON.stringify(results));
} finally {
  await browser.close();
}
