// Times viewer opens of the benchmark image, each in a fresh browser context (no HTTP cache):
// from navigation to `window.exactViewerReady` (the view complete: slide, annotations or the
// overview drawn). Run by hand right after starting a server to measure a cold-server open
// (the first line), then warm ones. Prints JSON: {opens: [ms, …], waterfall: first open}.
// Usage: node tests/ui/open_ui.mjs BASE USER PASSWORD SEED_JSON [OPENS]
import fs from 'node:fs';
import { chromium } from 'playwright-core';

const [base, user, password, seedFile, n = '4'] = process.argv.slice(2);
const seed = JSON.parse(fs.readFileSync(seedFile, 'utf8'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const opens = [];
let waterfall = null;
try {
  for (let i = 0; i < Number(n); i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(`${base}/user/login/`);
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForNavigation(), page.press('input[name=password]', 'Enter')]);
    const t0 = Date.now();
    await page.goto(`${base}/annotations/${seed.image}/`, { timeout: 120000 });
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: 120000 });
    opens.push(Date.now() - t0);
    if (i === 0) {
      waterfall = await page.evaluate(() => performance.getEntriesByType('resource')
        .map((r) => [new URL(r.name).pathname.replace(/_files\/.*/, '_files/…'), Math.round(r.startTime), Math.round(r.responseEnd)])
        .reduce((m, [k, a, b]) => { const g = m[k] || [0, a, b]; m[k] = [g[0] + 1, Math.min(g[1], a), Math.max(g[2], b)]; return m; }, {}));
    }
    await ctx.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify({ opens, waterfall }));
