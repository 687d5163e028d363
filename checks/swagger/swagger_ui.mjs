// Opens Swagger UI of a running crm-api in Debian's headless Chromium, authorizes with a
// bearer token, runs GET /v1/me through "Try it out" and checks the answer on the page.
//
//   node swagger_ui.mjs <base-url> <access-token> <expected-email>
//
// Fails (exit 1, screenshot in $TMPDIR) when a step does not work or the page asks for
// anything outside the service's own origin (the UI is vendored: no CDN).
import { chromium } from "playwright-core";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, token, email] = process.argv.slice(2);
if (!base || !token || !email) {
  console.error("usage: node swagger_ui.mjs <base-url> <access-token> <expected-email>");
  process.exit(2);
}
const origin = new URL(base).origin;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
  ],
  // playwright gives the browser a fresh temporary profile of its own.
});
const outside = [];
const started = Date.now();
let page;
try {
  page = await browser.newPage();
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(origin) && !url.startsWith("data:") && !url.startsWith("blob:")) outside.push(url);
  });
  const step = async (name, fn) => {
    try {
      await fn();
      console.log(`ok   ${name}`);
    } catch (e) {
      throw new Error(`${name}: ${e.message.split("\n")[0]}`);
    }
  };
  await step("open /swagger-ui/", async () => {
    await page.goto(`${base}/swagger-ui/`, { waitUntil: "networkidle", timeout: 30000 });
    await page.locator("#operations-me-get_me").waitFor({ timeout: 20000 });
  });
  await step("authorize with the bearer token", async () => {
    await page.locator("button.authorize").first().click();
    const dialog = page.locator(".modal-ux");
    // One form per security scheme (bearer, metrics_token, scim): the users' bearer is the
    // first, as the document lists them.
    const bearer = dialog.locator(".auth-container").first();
    await bearer.getByText("bearer", { exact: false }).first().waitFor({ timeout: 5000 });
    await bearer.locator("input").first().fill(token);
    await bearer.locator("button.authorize").click();
    await bearer.getByText("Authorized", { exact: false }).first().waitFor({ timeout: 5000 });
    await dialog.locator("button.btn-done").first().click();
  });
  await step("expand GET /v1/me, Try it out, Execute", async () => {
    const op = page.locator("#operations-me-get_me");
    await op.locator(".opblock-summary").first().click();
    await op.locator("button.try-out__btn").click();
    await op.locator("button.execute").click();
    await op.locator(".live-responses-table tbody .response-col_status").first().waitFor({ timeout: 15000 });
  });
  await step("the page shows 200 and the caller's email", async () => {
    const op = page.locator("#operations-me-get_me");
    const status = (await op.locator(".live-responses-table tbody .response-col_status").first().innerText()).trim();
    if (!status.startsWith("200")) throw new Error(`status on the page: ${status}`);
    const body = await op.locator(".live-responses-table tbody .response-col_description").first().innerText();
    if (!body.includes(email)) throw new Error(`response body on the page lacks ${email}: ${body.slice(0, 200)}`);
    const curl = await op.locator(".curl-command").first().innerText();
    if (!curl.includes(`Bearer ${token}`)) throw new Error("the request was sent without the bearer token");
  });
  if (outside.length) throw new Error(`the page requested other origins: ${outside.slice(0, 5).join(", ")}`);
  console.log(`swagger ui check: passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  const shot = join(tmpdir(), "crm-swagger-ui-failure.png");
  if (page) await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
  console.error(`swagger ui check: FAILED: ${e.message} (screenshot: ${shot})`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
