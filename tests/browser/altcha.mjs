// The hosted sign-up page of a project with bot protection, in the system's headless Chromium:
// the vendored ALTCHA widget fetches a challenge, solves it in its worker, and the form signs
// up; the same solution posted again is refused; with JavaScript off the page says why it
// cannot sign up. Run by the Rust test `altcha_browser`, which starts Doorway; it passes one
// JSON argument {chromium, signUpUrl, email, password} and reads one JSON object on stdout.
import { chromium } from "playwright-core";

const { chromium: executablePath, signUpUrl, email, password } = JSON.parse(process.argv[2]);

setTimeout(() => {
  console.error("altcha.mjs: timed out after 60 s");
  process.exit(3);
}, 60_000).unref();

const browser = await chromium.launch({
  executablePath,
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

// Console errors (CSP violations among them), uncaught exceptions and failed loads of a page;
// the browser's own favicon probe is not the page's.
function watch(page, problems) {
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400 && new URL(r.url()).pathname !== "/favicon.ico") problems.push(`${r.status()} ${r.url()}`);
  });
}

// Fills the form and waits for the widget to put a solved payload in it.
async function fillAndSolve(page, who) {
  await page.fill("#name", "Browser Bot Check");
  await page.fill("#email", who);
  await page.fill("#password", password);
  const started = Date.now();
  const handle = await page.waitForFunction(
    () => new FormData(document.querySelector("form[method=post]")).get("altcha"),
    null,
    { timeout: 30_000 },
  );
  return { payload: await handle.jsonValue(), solvedMs: Date.now() - started };
}

const result = {};
try {
  // 1. Sign up with the widget.
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    watch(page, problems);
    const loaded = await page.goto(signUpUrl);
    result.pageStatus = loaded?.status();
    result.csp = loaded?.headers()["content-security-policy"];
    result.widget = await page.locator("altcha-widget").count();
    const { payload, solvedMs } = await fillAndSolve(page, email);
    result.payload = payload;
    result.solvedMs = solvedMs;
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.click("form[method=post] button[type=submit]"),
    ]);
    result.signUpStatus = response?.status();
    result.afterSignUp = new URL(page.url()).pathname;
    result.problems = problems;
    await context.close();
  }
  // 2. The same solution again, on a fresh form: refused, with the error next to the widget.
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(signUpUrl);
    await fillAndSolve(page, `again-${email}`);
    await page.evaluate((old) => {
      const form = document.querySelector("form[method=post]");
      form.querySelector("altcha-widget")?.remove();
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "altcha";
      input.value = old;
      form.appendChild(input);
    }, result.payload);
    const [response] = await Promise.all([
      page.waitForNavigation(),
      page.click("form[method=post] button[type=submit]"),
    ]);
    result.replayStatus = response?.status();
    result.replayError = await page.locator("#altcha-error").textContent().catch(() => null);
    await context.close();
  }
  // 3. JavaScript off: the page says the bot check needs it.
  {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(signUpUrl);
    result.noScriptText = await page.locator("#altcha noscript").evaluate((n) => n.textContent).catch(() => null);
    result.noScriptWidget = await page.locator("altcha-widget").count();
    await context.close();
  }
  process.stdout.write(JSON.stringify(result));
} finally {
  await browser.close();
}
