// The pages in headless Chromium (Debian's, driven by playwright-core),
// served from a local static server: forms filled, numbers checked, errors
// shown on the page, a screenshot of each.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, mkdir } from "node:fs/promises";
import { join, dirname, extname, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { execSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { chromium } from "playwright-core";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const shots = join(web, "test", "screenshots");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json" };
let server, base, browser;

before(async () => {
  server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
    try {
      const body = await readFile(join(web, path || "index.html"));
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${server.address().port}`;
  const executablePath = process.env.CHROMIUM ?? execSync("command -v chromium").toString().trim();
  // A fresh profile each run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "ratebook-chromium-")), {
    executablePath,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  await mkdir(shots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
});

/** A page with every console error and uncaught exception collected. */
async function open(name) {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
  await page.goto(`${base}/${name}`);
  return { page, problems };
}

test("the bill estimator shows the FY23-24 bill with its lines", async () => {
  const { page, problems } = await open("estimator.html");
  await page.fill("input[name=usage]", "15");
  await page.fill("input[name=winter]", "12");
  await page.click("#estimate");
  await page.waitForSelector("#result:not([hidden])");
  assert.equal(await page.textContent("#total"), "423.15");
  assert.equal(await page.textContent("tr[data-line='water.volume'] td:nth-child(6)"), "105.09");
  assert.equal(await page.textContent("tr[data-line='sewer.volume'] td:nth-child(6)"), "155.52");
  assert.match(await page.textContent("#explanation"), /Your charges for service from 2023-09-01 to 2023-11-30 come to \$423\.15\./);
  await page.screenshot({ path: join(shots, "estimator.png"), fullPage: true });
  // An error is shown on the page, not swallowed.
  await page.selectOption("select[name=class]", "commercial");
  await page.click("#estimate");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /impervious_area_sqft/);
  assert.match(await page.textContent("#error"), /ratebook::case::missing_field/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the checker shows reasons, fixes, the letter, and reviews staff's result", async () => {
  const { page, problems } = await open("checker.html");
  await page.waitForSelector("#decision option", { state: "attached" });
  await page.click("#decide");
  await page.waitForSelector("#result:not([hidden])");
  assert.equal(await page.textContent("#outcome"), "ineligible");
  assert.match(await page.textContent("li[data-rule=repair_completed_in_time] .fix"), /the repair is completed by 2025-09-19/);
  assert.match(await page.textContent("#letter"), /What would change this decision:/);
  await page.click("#claim-box summary");
  await page.click("#review");
  await page.waitForSelector(".verdict");
  assert.match(await page.textContent("#verdict"), /disagrees on 1 figure/);
  assert.match(await page.textContent("#verdict"), /requirement_overlooked/);
  await page.screenshot({ path: join(shots, "checker.png"), fullPage: true });
  // A malformed case is reported with its code.
  await page.fill("#case", "account: { class: [");
  await page.click("#decide");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /ratebook::case::syntax/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the playground changes a rate, runs the tests and decides with the copy", async () => {
  const { page, problems } = await open("playground.html");
  await page.waitForSelector("#file option", { state: "attached" });
  await page.selectOption("#file", "params/water.yaml");
  const text = await page.inputValue("#text");
  await page.fill("#text", text.replace('value: "7.006"', 'value: "7.106"'));
  await page.click("#decide");
  await page.waitForFunction(() => document.getElementById("total").textContent !== "");
  assert.equal(await page.textContent("#base-total"), "423.15");
  assert.equal(await page.textContent("#total"), "424.65");
  await page.click("#test");
  await page.waitForFunction(() => document.getElementById("summary").textContent !== "");
  assert.match(await page.textContent("#summary"), /passed, [1-9]\d* failed/);
  assert.match(await page.textContent("#failures"), /FY23-24 typical quarterly water bill/);
  await page.screenshot({ path: join(shots, "playground.png"), fullPage: true });
  // A broken file is an error on the page, with where.
  await page.fill("#text", "water.volume_rate: [");
  await page.click("#test");
  await page.waitForSelector("#error:not([hidden])");
  assert.match(await page.textContent("#error"), /ratebook::pack::yaml/);
  assert.match(await page.textContent("#error"), /params\/water\.yaml/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("the impact report opens with no network and shows both charts", async () => {
  const root = join(web, "..", "..");
  const bin = join(process.env.CARGO_TARGET_DIR ?? join(root, "target"), "debug", "ratebook");
  const dir = mkdtempSync(join(tmpdir(), "ratebook-impact-"));
  execSync(`"${bin}" synth --accounts 300 --seed 3 --out "${dir}/portfolio.csv"`, { cwd: root, stdio: "ignore" });
  execSync(
    `"${bin}" impact --base examples/impact/base --proposed examples/impact/proposal --accounts "${dir}/portfolio.csv" --report "${dir}/report.html"`,
    { cwd: root, stdio: "ignore" },
  );
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));
  await page.goto(`file://${dir}/report.html`);
  assert.ok((await page.locator("#histogram rect.bar").count()) >= 20);
  assert.equal(await page.locator("#revenue rect.bar").count(), 4, "base and proposal for two classes");
  assert.match(await page.textContent("#summary"), /300 accounts/);
  assert.deepEqual(requests.filter((u) => !u.startsWith("file://")), [], "nothing fetched from a network");
  await page.screenshot({ path: join(shots, "impact.png"), fullPage: true });
  await page.close();
});
