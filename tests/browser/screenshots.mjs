// Writes PNGs of the hosted pages for the README. Run by scripts/screenshots.sh, which starts
// Doorway with a branded demo project:
//   node screenshots.mjs CHROMIUM BASE_URL OUT_DIR
import { chromium } from "playwright-core";

const [executablePath, base, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const context = await browser.newContext({ viewport: { width: 560, height: 760 }, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const shot = async (name) => page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
  await page.goto(`${base}/ui/sign-up`);
  await shot("sign-up");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator("#name-error").waitFor();
  await page.getByLabel("Email address").fill("ada@example");
  await shot("sign-up-errors");
  await page.goto(`${base}/ui/sign-in`);
  await shot("sign-in");
  await page.goto(`${base}/ui/verify-email?email=ada%40example.com`);
  await shot("verify-email");
  await page.goto(`${base}/ui/reset-password?email=ada%40example.com&notice=reset-sent`);
  await shot("reset-password");
  const german = await browser.newContext({ viewport: { width: 560, height: 760 }, locale: "de-DE" });
  const de = await german.newPage();
  await de.goto(`${base}/ui/sign-in`);
  await de.screenshot({ path: `${out}/sign-in-de.png`, fullPage: true });
} finally {
  await browser.close();
}
