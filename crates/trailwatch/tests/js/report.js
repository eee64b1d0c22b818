// Opens a `trailwatch cis audit --format html` report in headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core), checks what a reader sees, and saves a
// screenshot. Arguments: the report file, the PNG to write, then the controls expected to
// fail. Prints one JSON object; exits 1 when a check fails.
"use strict";

const path = require("path");
const { chromium } = require("playwright-core");

const [report, screenshot, ...failing] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const requests = [];
    page.on("request", (r) => requests.push(r.url()));
    await page.goto("file://" + path.resolve(report));
    const title = await page.title();
    const sections = await page.$$eval("section.finding", (s) => s.length);
    const failed = await page.$$eval('section.finding[data-status="FAIL"]', (s) => s.map((x) => x.id));
    // The FAIL badge is red and the PASS badge green, as styled.
    const colours = await page.$$eval(".tally .status", (badges) =>
      badges.map((b) => [b.textContent, getComputedStyle(b).backgroundColor]));
    // Evidence is folded until its summary is clicked.
    const first = failing[0] || "iam_policy_changes";
    const table = `#${first} table.verdicts`;
    await page.screenshot({ path: screenshot, fullPage: false });
    const hiddenBefore = !(await page.isVisible(table));
    await page.click(`#${first} details > summary`);
    const shownAfter = await page.isVisible(table);
    const missing = await page.textContent(`#${first} p.missing`).catch(() => null);
    if (sections !== 15 && sections !== 14) problems.push(`${sections} sections`);
    if (JSON.stringify(failed) !== JSON.stringify(failing)) problems.push(`failing ${failed}`);
    if (!hiddenBefore || !shownAfter) problems.push("evidence does not fold");
    if (requests.some((u) => !u.startsWith("file:"))) problems.push(`fetched ${requests}`);
    console.log(JSON.stringify({ title, sections, failed, colours, missing, problems }));
  } finally {
    await browser.close();
  }
  process.exit(problems.length ? 1 : 0);
})().catch((e) => {
  console.error(e);
  process.exit(2);
});
