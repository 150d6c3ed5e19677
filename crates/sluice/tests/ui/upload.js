// The web UI's document upload in a real browser (Debian's chromium, driven by playwright-core):
//   node upload.js BASE_URL SCREENSHOT_DIR USER PASSWORD DOCUMENT CLASS PDF
// Logs in, opens the model document_classification.classifier, follows "Classify a document",
// uploads DOCUMENT and expects CLASS with 16 probability bars and a confidence, then uploads
// PDF and expects the server's refusal. Saves a screenshot at each step; exits 1 with the
// reason on the first thing that is not as expected.
"use strict";
const path = require("path");
const { flow, login } = require(path.join(__dirname, "browser.js"));

const [base, shots, user, password, documentFile, expected, pdf] = process.argv.slice(2);

async function main() {
  await flow(shots, async (page, shot) => {
    await login(page, base, user, password);

    // The model's page links to its upload page.
    await page.goto(base + "/#/models");
    await page.getByRole("link", { name: "document_classification.classifier" }).click();
    await page.getByRole("heading", { name: /^document_classification\.classifier · version / }).waitFor();
    await shot("model");
    await page.getByRole("link", { name: "Classify a document" }).click();
    await page.getByRole("heading", { name: "Classify a document · document_classification.classifier" }).waitFor();
    await shot("upload-page");

    // A document: its class, a bar per class, the confidence.
    await page.getByLabel("document").setInputFiles(documentFile);
    await page.getByRole("button", { name: "Classify" }).click();
    const label = page.locator("h2[data-label]");
    await label.waitFor({ timeout: 60000 });
    const got = await label.getAttribute("data-label");
    if (got !== expected) throw new Error(`classified as ${JSON.stringify(got)}, not ${JSON.stringify(expected)}`);
    const bars = await page.locator("table.bars tr[data-class]").count();
    if (bars !== 16) throw new Error(`${bars} probability bars, not 16`);
    const top = await page.locator("table.bars tr.top").getAttribute("data-class");
    if (top !== expected) throw new Error(`the bar in bold is ${top}`);
    const width = await page.locator("table.bars tr.top .bar").evaluate((b) => b.getBoundingClientRect().width);
    const track = await page.locator("table.bars tr.top td.track").evaluate((t) => t.getBoundingClientRect().width);
    if (!(width > 0 && width <= track)) throw new Error(`the top bar is ${width}px of ${track}px`);
    const confidence = Number(await page.locator(".confidence").getAttribute("data-confidence"));
    if (!(confidence > 0 && confidence <= 1)) throw new Error(`confidence ${confidence}`);
    await page.locator("img.preview").waitFor();
    await shot("classified");

    // A PDF: the server's reason, shown to the user.
    await page.getByLabel("document").setInputFiles(pdf);
    await page.getByRole("button", { name: "Classify" }).click();
    await page.getByRole("alert").filter({ hasText: "PDF documents are not supported yet" }).waitFor();
    await shot("refused");
  });
}

main();
