// Headless Chromium opens an image's native.dzi in OpenSeadragon, zooms to full resolution and
// reports every tile request. Usage: node osd_native.mjs BASE_URL IMAGE_ID USER PASSWORD
// Prints one JSON line: {opened, tiles, failed: [...], fullyLoaded}.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [base, imageId, user, password] = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const osdDir = path.join(here, 'node_modules', 'openseadragon', 'build', 'openseadragon');
const dzi = `${base}/api/v1/images/images/${imageId}/native.dzi`;
const page_html = `<!doctype html><html><body style="margin:0">
<div id="v" style="width:800px;height:600px"></div>
<script src="/__osd__/openseadragon.min.js"></script>
<script>
  window.state = { opened: false, fullyLoaded: false, error: null };
  const viewer = OpenSeadragon({ id: 'v', prefixUrl: '/__osd__/images/', tileSources: ${JSON.stringify(dzi)},
                                 animationTime: 0, immediateRender: true });
  viewer.addHandler('open', () => {
    window.state.opened = true;
    const item = viewer.world.getItemAt(0);
    item.addHandler('fully-loaded-change', (e) => { window.state.fullyLoaded = e.fullyLoaded; });
  });
  viewer.addHandler('open-failed', (e) => { window.state.error = String(e.message); });
  window.viewer = viewer;
</script></body></html>`;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
const context = await chromium.launchPersistentContext(dir, {
  executablePath: '/usr/bin/chromium', headless: true,
  extraHTTPHeaders: { Authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') },
});
const failed = [];
let tiles = 0;
try {
  const page = context.pages()[0] ?? await context.newPage();
  await page.route(`${base}/__osd__/**`, (route) => {
    const rel = new URL(route.request().url()).pathname.replace('/__osd__/', '');
    const file = path.join(osdDir, rel);
    if (rel === 'test.html') return route.fulfill({ status: 200, contentType: 'text/html', body: page_html });
    if (!fs.existsSync(file)) return route.fulfill({ status: 404, body: 'missing' });
    return route.fulfill({ status: 200, body: fs.readFileSync(file),
                           contentType: rel.endsWith('.js') ? 'text/javascript' : 'image/png' });
  });
  page.on('requestfailed', (r) => failed.push({ url: r.url(), error: r.failure()?.errorText }));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push({ url: r.url(), status: r.status() });
    if (r.url().includes('/native_files/')) tiles += 1;
  });
  await page.goto(`${base}/__osd__/test.html`);
  await page.waitForFunction(() => window.state.opened || window.state.error, null, { timeout: 30000 });
  await page.waitForFunction(() => window.state.fullyLoaded, null, { timeout: 30000 });
  const home = tiles;
  // Zoom to full resolution at the centre: native level-0 tiles.
  await page.evaluate(() => { const vp = window.viewer.viewport; vp.zoomTo(vp.getMaxZoom(), null, true); });
  await page.waitForFunction(() => window.state.fullyLoaded, null, { timeout: 30000 });
  await page.waitForTimeout(300);
  const state = await page.evaluate(() => window.state);
  console.log(JSON.stringify({ ...state, tiles, homeTiles: home, failed }));
} finally {
  await context.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
