// Drives the inspector in headless Chromium: each page loads with no console error, the user page's score
// matches the API's, a recommendation's link opens its offer page, and each page is screenshotted.
// Usage: node inspect.mjs BASE_URL API_KEY USER_ID DEPARTMENT OUT_DIR   (prints one JSON object)
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, key, user, department, outDir] = process.argv.slice(2);
mkdirSync(outDir, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.PASSEUR_CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
const errors = [];
page.on("console", (m) => { if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`); });
page.on("pageerror", (e) => errors.push(`${page.url()}: ${e}`));
page.on("requestfailed", (r) => errors.push(`${page.url()}: request failed ${r.url()}`));
const out = { pages: {}, errors };
const timeout = 60000;

async function visit(name, url, ready) {
  const started = Date.now();
  await page.goto(url, { waitUntil: "load", timeout });
  await page.waitForSelector(ready, { timeout });
  await page.screenshot({ path: `${outDir}/${name}.png`, fullPage: true });
  out.pages[name] = { url: page.url(), title: await page.title(), ms: Date.now() - started };
}

try {
  await visit("index", `${base}/inspector#key=${encodeURIComponent(key)}`, "form#start");
  await visit("user", `${base}/inspector/users/${encodeURIComponent(user)}`, "#score[data-loaded]");
  out.pages.user.score = (await page.textContent("#score")).trim();
  out.pages.user.recommendations = await page.locator("a.offer-link").count();
  const link = page.locator("a.offer-link").first();
  const href = await link.getAttribute("href");
  out.clicked = href;
  await link.click();
  await page.waitForSelector("#offer-title[data-loaded]", { timeout });
  out.offer = { url: page.url(), id: await page.getAttribute("#offer-title", "data-offer"), title: (await page.textContent("#offer-title")).trim() };
  await page.screenshot({ path: `${outDir}/offer.png`, fullPage: true });
  out.pages.offer = { url: page.url(), title: await page.title() };
  await visit("territory", `${base}/inspector/territory?department=${encodeURIComponent(department)}`, "#territory[data-loaded]");
  out.pages.territory.charts = await page.locator("figure svg").count();
  await visit("map", `${base}/inspector/map`, "#map-title[data-loaded]");
  out.pages.map.points = await page.locator("figure svg circle").count();
} catch (e) {
  errors.push(`driver: ${e}`);
}
await browser.close();
console.log(JSON.stringify(out));
