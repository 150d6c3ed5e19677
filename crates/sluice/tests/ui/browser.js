// What the browser flows share: Debian's chromium (SLUICE_TEST_CHROMIUM) in a fresh profile,
// driven by playwright-core, a numbered screenshot per step, the page's script errors.
"use strict";
const { chromium } = require("playwright-core");
const path = require("path");
const fs = require("fs");
const os = require("os");

/** Runs `steps(page, shot)` in a fresh headless chromium; prints `ok: N screenshots in DIR`,
 * or the first failure (exit status 1, a `failure` screenshot). */
async function flow(shots, steps) {
  fs.mkdirSync(shots, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-chromium-"));
  // A fresh profile (DESIGN.md's --user-data-dir), given the way playwright takes it.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.SLUICE_TEST_CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  let step = 0;
  const shot = async (name) => page.screenshot({ path: path.join(shots, `${String(++step).padStart(2, "0")}-${name}.png`), fullPage: true });
  try {
    await steps(page, shot);
    if (errors.length) throw new Error(`errors in the page: ${errors.join("; ")}`);
    console.log(`ok: ${step} screenshots in ${shots}`);
  } catch (e) {
    await shot("failure").catch(() => {});
    console.error(e.message || String(e));
    process.exitCode = 1;
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

/** Opens `base` and logs in as `user`, until the pipelines page shows. */
async function login(page, base, user, password) {
  await page.goto(base + "/");
  await page.getByLabel("user").fill(user);
  await page.getByLabel("password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Pipelines" }).waitFor();
}

module.exports = { flow, login };
