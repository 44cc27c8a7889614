// The hosted pages in the system's headless Chromium: axe-core on every page, and the flows a
// person goes through. Run by the Rust test `pages_browser`, which starts Doorway and passes one
// JSON argument:
//   {chromium, base, plain, branded, email, oauthEmail, nojsEmail, password, newPassword}
// (`base`, `plain` and `branded` are the pages' URLs of three projects). Mail is read by the Rust
// side: this script writes `{"need": "verify" | "reset", "email"}` on a line of stdout and reads
// `{"code", "link"}` from a line of stdin. It ends with one line `{"done": results}`.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const config = JSON.parse(process.argv[2]);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const input = createInterface({ input: process.stdin });
const lines = input[Symbol.asyncIterator]();

// A hung browser must fail the test, not hold the suite.
setTimeout(() => {
  console.error("pages.mjs: timed out after 200 s");
  process.exit(3);
}, 200_000).unref();

async function mail(need, email) {
  process.stdout.write(JSON.stringify({ need, email }) + "\n");
  const { value, done } = await lines.next();
  if (done) throw new Error("the test closed stdin");
  return JSON.parse(value);
}

const results = { axe: {}, csp: [], steps: {}, ms: {} };
let last = Date.now();
// How long each part took, for the report.
function lap(name) {
  const now = Date.now();
  results.ms[name] = now - last;
  last = now;
}

// Serious and critical axe-core findings of the page as it is now, under `name`.
async function audit(page, name) {
  // Evaluated over the DevTools protocol, so the page's CSP (no inline script) does not apply.
  await page.evaluate(axeSource);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.html).slice(0, 3) }));
  });
  results.axe[name] = found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const started = Date.now();
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
  ],
});

results.ms.launch = Date.now() - started;
last = Date.now();

async function visitor(options = {}) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (/Content.Security.Policy|Refused to/i.test(msg.text())) results.csp.push(msg.text());
  });
  return { context, page };
}

const path = (page) => new URL(page.url()).pathname;
const text = async (page, selector) => ((await page.locator(selector).first().textContent()) ?? "").trim();

try {
  // Every page, as a first visit shows it (and the branded project, whose colour is checked
  // for contrast).
  {
    const { context, page } = await visitor();
    const pages = {
      signUp: `${config.base}/sign-up`,
      signIn: `${config.base}/sign-in`,
      signInCode: `${config.base}/sign-in/code?email=a%40example.com&notice=code-sent`,
      verifyEmail: `${config.base}/verify-email?email=a%40example.com`,
      verifyLink: `${config.base}/verify-email?token=abc`,
      forgotPassword: `${config.base}/forgot-password`,
      resetPassword: `${config.base}/reset-password?email=a%40example.com&notice=reset-sent`,
      resetLink: `${config.base}/reset-password?token=abc`,
      brandedSignUp: `${config.branded}/sign-up`,
      brandedSignIn: `${config.branded}/sign-in?notice=signed-out`,
      unknownProject: `${config.base.replace(/\/ui$/, "")}/no-such-project/ui/sign-up`,
    };
    for (const [name, url] of Object.entries(pages)) {
      await page.goto(url);
      await audit(page, name);
    }
    // Keyboard: the first Tab reaches the first field, and its focus is visible.
    await page.goto(pages.signUp);
    await page.keyboard.press("Tab");
    results.steps.keyboard = await page.evaluate(() => ({
      focused: document.activeElement?.id,
      outline: getComputedStyle(document.activeElement).outlineStyle,
    }));
    await context.close();
    lap("axeAndKeyboard");
  }

  // Sign up with a password, a wrong code, then the mailed code; the session is the native API's.
  {
    const { context, page } = await visitor();
    await page.goto(`${config.base}/sign-up`);
    await page.getByLabel("Your name").fill("Ada Lovelace");
    await page.getByLabel("Email address").fill(config.email);
    await page.getByLabel("Password").fill(config.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(/\/verify-email/);
    const afterSignUp = path(page);
    await page.getByLabel("Code from the email").fill("000000");
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.locator("#code-error").waitFor();
    const wrongCode = {
      error: await text(page, "#code-error"),
      describedBy: await page.getByLabel("Code from the email").getAttribute("aria-describedby"),
      focused: await page.evaluate(() => document.activeElement?.id),
    };
    await audit(page, "verifyEmailRefused");
    const { code } = await mail("verify", config.email);
    await page.getByLabel("Code from the email").fill(code);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(/\/welcome/);
    await audit(page, "welcome");
    const me = await page.evaluate(async (api) => (await fetch(api)).status, `${config.base.replace(/\/ui$/, "")}/api/auth/me`);
    results.steps.passwordSignUp = { afterSignUp, wrongCode, landing: path(page), signedInAs: await text(page, "#signed-in-email"), me };
    await context.close();
    lap("passwordSignUp");
  }

  // Forgot password, the mailed link, a new password, and signing in with it.
  {
    const { context, page } = await visitor();
    await page.goto(`${config.base}/sign-in`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.getByLabel("Email address").fill(config.email);
    await page.getByRole("button", { name: "Send reset email" }).click();
    await page.waitForURL(/\/reset-password/);
    const notice = await text(page, ".notice");
    const { link } = await mail("reset", config.email);
    await page.goto(link);
    const landing = path(page);
    await page.getByLabel("New password").fill(config.newPassword);
    await page.getByRole("button", { name: "Set new password" }).click();
    await page.waitForURL(/\/sign-in/);
    const done = await text(page, ".notice");
    await page.getByLabel("Email address").first().fill(config.email);
    await page.getByLabel("Password").fill(config.newPassword);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(/\/welcome/);
    results.steps.reset = { notice, landing, done, signedInAs: await text(page, "#signed-in-email") };
    await context.close();
    lap("reset");
  }

  // Sign up through the OpenID Connect provider: its button, the provider, the callback, the landing.
  {
    const { context, page } = await visitor();
    await page.goto(`${config.base}/sign-up`);
    await page.getByRole("button", { name: /Continue with/ }).click();
    await page.waitForURL(/\/welcome/);
    results.steps.oauth = { landing: path(page), signedInAs: await text(page, "#signed-in-email") };
    await context.close();
    lap("oauth");
  }

  // JavaScript off: a refused form shows its errors, then the password path signs up and out.
  {
    const { context, page } = await visitor({ javaScriptEnabled: false });
    await page.goto(`${config.plain}/sign-up`);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.locator("#name-error").waitFor();
    const refused = { summary: await text(page, "#summary h2"), nameError: await text(page, "#name-error") };
    await page.getByLabel("Your name").fill("No Script");
    await page.getByLabel("Email address").fill(config.nojsEmail);
    await page.getByLabel("Password").fill(config.password);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForURL(/\/welcome/);
    const signedInAs = await text(page, "#signed-in-email");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/sign-in/);
    await page.getByLabel("Email address").first().fill(config.nojsEmail);
    await page.getByLabel("Password").fill(config.password);
    await page.getByRole("button", { name: "Sign in", exact: true }).click();
    await page.waitForURL(/\/welcome/);
    results.steps.noJs = { refused, signedInAs, signedInAgain: await text(page, "#signed-in-email") };
    await context.close();
    lap("noJs");
  }

  process.stdout.write(JSON.stringify({ done: results }) + "\n");
} finally {
  await browser.close();
  // The test keeps stdin open; reading it must not keep this process alive.
  input.close();
}
