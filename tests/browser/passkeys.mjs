// Passkeys on the hosted pages in the system's headless Chromium, with the DevTools protocol's
// virtual authenticator (CTAP2, resident keys, user verification): sign up with a passkey on
// the sign-up page, sign out, sign in with it on the sign-in page; then a password account adds
// a passkey through the JSON routes and signs in with it. axe-core checks the pages with the
// passkey section shown, and no page may trip its own CSP. Run by the Rust test
// `passkeys_browser`, which starts Doorway on http://localhost (a secure context, and the rp
// id); it passes one JSON argument {chromium, base, email, passwordEmail, password} and reads
// one JSON object on stdout.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

// A hung browser must fail the test, not hold the suite.
setTimeout(() => {
  console.error("passkeys.mjs: timed out after 90 s");
  process.exit(3);
}, 90_000).unref();

const results = { axe: {}, csp: [], steps: {}, ms: {} };
const started = Date.now();
let last = started;
const lap = (name) => {
  const now = Date.now();
  results.ms[name] = now - last;
  last = now;
};

async function audit(page, name) {
  // Evaluated over the DevTools protocol, so the page's CSP (no inline script) does not apply.
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
  });
  results.axe[name] = found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    // Doorway listens on 127.0.0.1; the page's origin must be localhost (a secure context and
    // the relying party id).
    "--host-resolver-rules=MAP localhost 127.0.0.1",
  ],
});
lap("launch");

// A fresh browser profile with its own virtual platform authenticator.
async function visitor() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) results.csp.push(msg.text());
  });
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  return { context, page, credentials };
}

const path = (page) => new URL(page.url()).pathname;
const text = async (page, selector) => ((await page.locator(selector).first().textContent()) ?? "").trim();

async function signOut(page) {
  await Promise.all([page.waitForURL((u) => !u.pathname.endsWith("/welcome")), page.click("form[action$='/sign-out'] button")]);
}

async function passkeySignIn(page) {
  await page.goto(`${config.base}/sign-in`);
  await page.locator("#passkey-button").waitFor({ state: "visible" });
  await Promise.all([page.waitForURL("**/ui/welcome"), page.click("#passkey-button")]);
  return { landing: path(page), signedInAs: await text(page, "#signed-in-email") };
}

try {
  // Sign up with a passkey on the hosted page; no password anywhere.
  {
    const { context, page, credentials } = await visitor();
    await page.goto(`${config.base}/sign-up`);
    await page.locator("#passkey-button").waitFor({ state: "visible" });
    await audit(page, "sign-up");
    // The button asks for the address first.
    await page.click("#passkey-button");
    const needsEmail = await text(page, "#passkey-error");
    await page.fill("#name", "Pat Passkey");
    await page.fill("#email", config.email);
    await Promise.all([page.waitForURL("**/ui/welcome"), page.click("#passkey-button")]);
    const stored = await credentials();
    results.steps.signUp = {
      needsEmail,
      landing: path(page),
      signedInAs: await text(page, "#signed-in-email"),
      residentKeys: stored.filter((c) => c.isResidentCredential).length,
    };
    lap("passkeySignUp");

    await signOut(page);
    results.steps.signedOut = path(page);
    await page.goto(`${config.base}/sign-in`);
    await page.locator("#passkey-button").waitFor({ state: "visible" });
    await audit(page, "sign-in");
    results.steps.signIn = await passkeySignIn(page);
    results.steps.signIn.me = await page.evaluate(async () => (await fetch("/api/auth/me")).status);
    lap("passkeySignIn");
    await context.close();
  }

  // A password account adds a passkey (JSON routes, the page's session cookie), then uses it.
  {
    const { context, page } = await visitor();
    await page.goto(`${config.base}/sign-up`);
    await page.fill("#name", "Paula Password");
    await page.fill("#email", config.passwordEmail);
    await page.fill("#password", config.password);
    await Promise.all([page.waitForURL("**/ui/welcome"), page.click("form[action$='/sign-up'] button[type=submit]")]);
    const added = await page.evaluate(async () => {
      const post = async (url, body) => {
        const r = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
        return { status: r.status, body: await r.json() };
      };
      const options = await post("/api/auth/passkeys/options", { name: "This browser" });
      if (options.status !== 200) return { options };
      const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.body.data.publicKey);
      const credential = await navigator.credentials.create({ publicKey });
      const add = await post("/api/auth/passkeys", credential.toJSON());
      const list = await (await fetch("/api/auth/passkeys")).json();
      return { add: add.status, name: add.body.data?.name, listed: list.data.passkeys.length };
    });
    results.steps.add = added;
    await signOut(page);
    results.steps.addedSignIn = await passkeySignIn(page);
    lap("addPasskeyAndSignIn");
    await context.close();
  }
} catch (e) {
  results.error = `${e.name}: ${e.message}`;
} finally {
  await browser.close();
}
results.ms.total = Date.now() - started;
console.log(JSON.stringify(results));
