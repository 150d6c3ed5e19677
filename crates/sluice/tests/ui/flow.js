// The web UI in a real browser (Debian's chromium, driven by playwright-core):
//   node flow.js BASE_URL SCREENSHOT_DIR USER PASSWORD
// Logs in, triggers the `watch` pipeline, watches its run finish in the grid, opens a task's
// log, checks the run page's Gantt, opens a dataset, searches it, reads the lineage, opens a
// model (card, curves, confusion matrix, trials, two versions compared), logs out. Saves a screenshot at each
// step; exits 1 with the reason on the first thing that is not as expected.
"use strict";
const path = require("path");
const { flow } = require(path.join(__dirname, "browser.js"));

const [base, shots, user, password] = process.argv.slice(2);

async function main() {
  await flow(shots, async (page, shot) => {
    // Not logged in: the login form.
    await page.goto(base + "/");
    await page.getByRole("heading", { name: "Log in to sluice" }).waitFor();
    await shot("login");
    // A wrong password is refused with the server's message.
    await page.getByLabel("user").fill(user);
    await page.getByLabel("password").fill("not the password");
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("alert").filter({ hasText: "wrong user name or password" }).waitFor();
    await page.getByLabel("password").fill(password);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.getByRole("heading", { name: "Pipelines" }).waitFor();
    await page.locator("#who").filter({ hasText: `${user} (operator)` }).waitFor();
    await page.locator('tr[data-pipeline="watch"]').waitFor();
    await shot("pipelines");

    // The pipeline: its graph, then a run triggered from the UI.
    await page.getByRole("link", { name: "watch", exact: true }).click();
    await page.getByRole("heading", { name: "watch" }).waitFor();
    await page.locator('svg.dag g[data-task="report"]').waitFor();
    await shot("pipeline");
    await page.getByRole("button", { name: "Trigger run" }).click();
    await page.getByRole("heading", { name: /^Run / }).waitFor();
    await page.locator('tr[data-task="report"] .state[data-state="queued"], tr[data-task="report"] .state[data-state="running"]').first().waitFor();
    // While `slow` runs, `report` says why it waits.
    await page.locator('tr[data-task="report"] .why').filter({ hasText: "waiting for upstream: slow" }).waitFor();
    await shot("run-going-on");
    await page.locator(".actions .state[data-state=succeeded]").waitFor({ timeout: 30000 });
    await page.locator('svg[aria-label="gantt"] rect').nth(1).waitFor();
    await shot("run-succeeded");
    const runTitle = await page.getByRole("heading", { name: /^Run / }).textContent();
    const runId = runTitle.replace("Run ", "").trim();

    // The grid: a green square for each task of that run.
    await page.goto(base + "/#/p/watch");
    const cells = page.locator(`a.sq[data-state="succeeded"][href^="#/r/${runId}/"]`);
    await cells.nth(1).waitFor();
    if ((await cells.count()) !== 2) throw new Error(`expected 2 succeeded cells, got ${await cells.count()}`);
    await shot("grid");

    // A task's log, from the grid.
    await page.locator(`a.sq[href="#/r/${runId}/slow"]`).click();
    await page.locator('pre.log[data-complete="true"]').waitFor();
    const log = await page.locator("pre.log").textContent();
    if (!log.includes("slow step done")) throw new Error(`the log of slow is ${JSON.stringify(log)}`);
    await shot("log");

    // A dataset: its schema, its rows over versions, its first rows.
    await page.getByRole("link", { name: "Datasets" }).click();
    await page.getByRole("heading", { name: "Datasets" }).waitFor();
    await page.getByRole("link", { name: "docs.embeddings" }).click();
    await page.getByRole("heading", { name: "docs.embeddings", exact: true }).waitFor();
    await page.locator("table.schema td").filter({ hasText: /^embedding$/ }).waitFor();
    await page.locator('svg[aria-label="rows over versions"] circle[data-rows="4"]').waitFor();
    const previewRows = await page.locator("table.rows tbody tr").count();
    if (previewRows !== 4) throw new Error(`the preview shows ${previewRows} rows, not 4`);
    await shot("dataset");

    // A search with the real model, from the dataset's link.
    await page.getByRole("link", { name: "Search this dataset" }).click();
    await page.getByRole("heading", { name: "Search" }).waitFor();
    await page.getByLabel("query").fill("logement étudiant");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator(".results table.rows tbody tr").first().waitFor();
    const hits = await page.locator(".results table.rows tbody tr").count();
    if (hits !== 4) throw new Error(`the search shows ${hits} rows, not 4`);
    const first = await page.locator(".results table.rows tbody tr").first().textContent();
    if (!first.includes("Les aides au logement")) throw new Error(`the first hit is ${JSON.stringify(first)}`);
    await page.getByLabel("where").fill("theme = 'Santé'");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator(".results p").filter({ hasText: /^1 row from docs.embeddings/ }).waitFor();
    await shot("search");

    // The lineage: the dataset and the task that read it.
    await page.getByRole("link", { name: "Lineage" }).click();
    await page.getByRole("heading", { name: "Lineage" }).waitFor();
    await page.locator('svg.dag g[data-task="docs.embeddings"]').waitFor();
    const readBy = await page.locator("tr", { hasText: "docs.sheets" }).last().textContent();
    if (!readBy.includes("docs.embeddings")) throw new Error(`docs.sheets is read by ${JSON.stringify(readBy)}`);
    await shot("lineage");

    await page.getByRole("link", { name: "Runs" }).click();
    await page.getByRole("link", { name: runId }).waitFor();
    await shot("runs");

    // Models: the list; a model's latest version with its card, training curves, confusion
    // matrix and trials; two versions compared; the card as Markdown.
    await page.getByRole("link", { name: "Models", exact: true }).click();
    await page.getByRole("heading", { name: "Models" }).waitFor();
    await page.locator('tr[data-model="ml.classifier"]').waitFor();
    await shot("models");
    await page.getByRole("link", { name: "ml.classifier" }).click();
    await page.getByRole("heading", { name: /^ml\.classifier · version / }).waitFor();
    const versions = await page.locator("table.versions tbody tr").count();
    if (versions !== 2) throw new Error(`${versions} versions listed, not 2`);
    const intended = await page.locator('td[data-field="Intended use"]').textContent();
    if (!intended.startsWith("Sorting offers")) throw new Error(`intended use: ${intended}`);
    // Two trials, each with loss and val_loss over the latest version's 6 epochs.
    const lines = page.locator('svg.curve[data-metric="loss"] polyline');
    await lines.first().waitFor();
    const points = await lines.evaluateAll((ls) => ls.map((l) => `${l.dataset.series}:${l.dataset.points}`));
    if (points.join(",") !== "trial 1 loss:6,trial 1 val_loss:6,trial 2 loss:6,trial 2 val_loss:6") {
      throw new Error(`loss curves: ${points}`);
    }
    // The confusion matrix counts every test row.
    const rows = await page.locator('td[data-field="Rows"]').textContent();
    const tested = Number((rows.match(/(\d+) test/) || [])[1]);
    const counts = await page.locator("table.confusion td").evaluateAll((tds) => tds.map((td) => Number(td.dataset.count)));
    if (counts.length !== 9 || counts.reduce((a, b) => a + b, 0) !== tested || !tested) {
      throw new Error(`confusion ${counts} for ${rows}`);
    }
    const trials = await page.locator("table.trials tbody tr").count();
    const kept = await page.locator("table.trials tr.kept").count();
    if (trials !== 2 || kept !== 1) throw new Error(`${trials} trials, ${kept} kept`);
    await page.getByRole("button", { name: "Compare" }).click();
    await page.locator('#comparison tr[data-figure="valid.accuracy"]').waitFor();
    await shot("model");
    const href = await page.getByRole("link", { name: "The card as Markdown" }).getAttribute("href");
    const card = await page.request.get(base + href);
    const markdown = await card.text();
    if (card.status() !== 200 || !String(card.headers()["content-type"]).startsWith("text/markdown")
      || !markdown.startsWith("# Model card: ml.classifier") || !markdown.includes("## Confusion matrix (test rows)")
      || !markdown.includes("Sorting offers")) {
      throw new Error(`the card as Markdown: ${card.status()} ${markdown.slice(0, 300)}`);
    }

    // Log out: back to the login form, and the API refuses the old session.
    await page.getByRole("button", { name: "Log out" }).click();
    await page.getByRole("heading", { name: "Log in to sluice" }).waitFor();
    const status = await page.evaluate(async () => (await fetch("/api/me")).status);
    if (status !== 401) throw new Error(`after logout /api/me answers ${status}`);
    await shot("logged-out");
  });
}

main();
