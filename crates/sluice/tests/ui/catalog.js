// The catalog in a real browser (Debian's chromium, driven by playwright-core):
//   node catalog.js BASE_URL SCREENSHOT_DIR USER PASSWORD
// Logs in, finds drug_mentions.graph in the catalog by a column and by a tag, opens it, reads
// its description, owners, tags and column docs, follows the lineage of its `journals` column
// back to the input files, and sees which task uses the dataset. Saves a screenshot at each
// step; exits 1 with the reason on the first thing that is not as expected.
"use strict";
const path = require("path");
const { flow, login } = require(path.join(__dirname, "browser.js"));

const [base, shots, user, password] = process.argv.slice(2);

async function main() {
  await flow(shots, async (page, shot) => {
    await login(page, base, user, password);

    // Found by a column, then by a tag.
    await page.getByRole("link", { name: "Catalog" }).click();
    await page.getByRole("heading", { name: "Catalog" }).waitFor();
    const search = page.getByLabel("catalog search");
    await search.fill("journals");
    await page.getByRole("button", { name: "Find" }).click();
    // The table shown first holds every dataset: wait for the one answering this search.
    await page.locator('table.catalog[data-query="journals"]').waitFor();
    const row = page.locator('tr[data-dataset="drug_mentions.graph"]');
    const rows = await page.locator("table.catalog tbody tr").count();
    if (rows !== 1) throw new Error(`${rows} datasets found for "journals", not 1`);
    const where = await row.locator("td").last().textContent();
    if (!where.includes("column journals")) throw new Error(`found in "${where}"`);
    await shot("catalog-column");
    await search.fill("gold");
    await page.getByRole("button", { name: "Find" }).click();
    await page.locator('table.catalog[data-query="gold"]').waitFor();
    await page.locator("table.catalog tbody tr td:last-child", { hasText: "tag gold" }).waitFor();
    await shot("catalog-tag");

    // The dataset page: what it holds, who answers for it, its columns.
    await row.getByRole("link", { name: "drug_mentions.graph" }).click();
    await page.getByRole("heading", { name: "drug_mentions.graph", exact: true }).waitFor();
    const description = await page.locator("p.description").textContent();
    if (!description.startsWith("One row per drug")) throw new Error(`description "${description}"`);
    const docs = await page.locator("p.docs").textContent();
    if (docs !== "owners: team:data · tags: gold") throw new Error(`docs "${docs}"`);
    const column = await page.locator('tr[data-column="journals"]').textContent();
    if (!column.includes("Each journal that mentioned the drug") || !column.includes("derived")) throw new Error(`journals: "${column}"`);
    await shot("dataset");

    // The lineage of one column, back to the files it comes from.
    await page.getByLabel("column").selectOption("journals");
    await page.getByRole("heading", { name: "drug_mentions.graph.journals comes from" }).waitFor();
    await page.locator('tr[data-step="drug_mentions.mentions.journal"]').first().waitFor();
    const files = await page.locator('table.steps tr[data-step$="pubmed.csv.journal"]').count();
    if (files < 1) throw new Error("the column's lineage does not reach pubmed.csv");
    const boxes = await page.locator("div.lineage svg.dag g[data-task]").count();
    if (boxes < 8) throw new Error(`${boxes} boxes in the column graph`);
    const used = await page.locator("ul.used-by li").first().textContent();
    if (!used.startsWith("drug_mentions.write_graph (write.json)")) throw new Error(`used by "${used}"`);
    await shot("column-lineage");
  });
}

main();
