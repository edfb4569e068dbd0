// Importing annotations from the set page (issue 14): a small QuPath-style GeoJSON chosen in
// the file picker becomes an import job the page follows to its counts, the annotations are
// then found through the API, and a malformed file shows the server's reason (the feature and
// line) with nothing written. Runs against the shared server scripts/test-ui starts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BASE, browser, loginThroughForm, rest, shot } from './helpers.mjs';

let b;
let set;

const feature = (i) => ({
  type: 'Feature',
  geometry: { type: 'Polygon', coordinates: [[[10 + i * 100, 20], [60 + i * 100, 20], [60 + i * 100, 70], [10 + i * 100, 70], [10 + i * 100, 20]]] },
  properties: { objectType: 'annotation', classification: { name: 'Imported tumour', color: [200, 0, 0] } },
});

before(async () => {
  const stamp = Date.now().toString(36);
  const team = await rest('POST', '/api/v1/users/teams/', { name: `import ${stamp}` });
  set = await rest('POST', '/api/v1/images/image_sets/', { name: `import set ${stamp}`, team: team.id });
  b = await browser();
});

after(async () => {
  await b?.close();
});

async function choose(page, name, text) {
  await page.setInputFiles('#import-form input[name=file]', { name, mimeType: 'application/geo+json', buffer: Buffer.from(text) });
}

test('import a GeoJSON from the set page, follow the job, refuse a malformed file', async () => {
  const { page } = b;
  await page.goto(`${BASE}/images/imageset/${set.id}/`);
  await loginThroughForm(page);
  await page.waitForSelector('#import-form');
  assert.match(await page.textContent('#import-jobs'), /No import yet/);

  const collection = { type: 'FeatureCollection', features: [0, 1, 2].map(feature) };
  await choose(page, 'cells.geojson', JSON.stringify(collection));
  await page.fill('#import-form input[name=image]', 'imported.svs');
  await page.check('#import-form input[name=create_missing]');
  await page.click('#import-form button[type=submit]');
  await page.waitForSelector('#import-progress .import-job[data-state=done]', { timeout: 30000 });
  assert.equal(await page.textContent('#import-progress .import-counts'), '3 created, 0 skipped as duplicates, 0 refused');
  assert.match(await page.textContent('#import-progress'), /Images created: imported\.svs/);
  assert.match(await page.textContent('#import-progress'), /Types created: Imported tumour/);
  await page.waitForSelector('#import-job-table [data-job-state]');
  assert.match(await page.textContent('#import-job-table'), /cells\.geojson.*done.*3 created/s);
  await shot(page, 'import-done');

  // The annotations are there for every client.
  const images = await rest('GET', `/api/v1/images/images/?image_set=${set.id}&omit=annotations`);
  assert.deepEqual(images.results.map((i) => i.name), ['imported.svs']);
  const anns = await rest('GET', `/api/v1/annotations/annotations/?image=${images.results[0].id}&limit=100`);
  assert.equal(anns.count, 3);
  assert.deepEqual(anns.results.map((a) => a.vector.x1).sort((x, y) => x - y), [10, 110, 210]);

  // The same file again: every feature is a duplicate, nothing new.
  await choose(page, 'cells.geojson', JSON.stringify(collection));
  await page.click('#import-form button[type=submit]');
  await page.waitForFunction(() => document.querySelectorAll('#import-job-table tbody tr').length === 2, null, { timeout: 30000 });
  await page.waitForSelector('#import-progress .import-job[data-state=done]');
  assert.equal(await page.textContent('#import-progress .import-counts'), '0 created, 3 skipped as duplicates, 0 refused');

  // Refused items: each listed with its place and reason, nothing written.
  const outside = feature(50);
  const unknown = { ...feature(1), properties: { classification: { name: 'No such class' } } };
  const refusals = { type: 'FeatureCollection', features: [feature(2), outside, unknown] };
  await choose(page, 'refused.geojson', JSON.stringify(refusals));
  await page.click('#import-form button[type=submit]');
  await page.waitForSelector('#import-progress .import-job[data-state=refused]', { timeout: 30000 });
  const listed = await page.$$eval('#import-progress .import-refused li', (els) => els.map((e) => e.textContent));
  assert.equal(listed.length, 2, listed.join('\n'));
  assert.match(listed[0], /^feature 2: .*outside image "imported\.svs"/, listed[0]);
  assert.match(listed[1], /^feature 3: .*No such class/, listed[1]);
  assert.match(await page.textContent('#import-progress .import-error'), /2 item\(s\) refused; nothing was written/);

  // A file that is not JSON to the end: the server's reason names the feature and line.
  const bad = `{"type": "FeatureCollection", "features": [\n${JSON.stringify(feature(5))},\n{"type": "Feature", "geometry": {"type": "Point", "coordinates": [7,,]}}\n]}`;
  await choose(page, 'broken.geojson', bad);
  await page.click('#import-form button[type=submit]');
  await page.waitForSelector('#import-progress .import-job[data-state=failed]', { timeout: 30000 });
  const reason = await page.textContent('#import-progress .import-error');
  assert.match(reason, /feature 2 \(line 3, column \d+\)/, reason);
  assert.match(await page.textContent('#import-job-table'), /broken\.geojson.*failed/s);
  await shot(page, 'import-refused');
  assert.equal((await rest('GET', `/api/v1/annotations/annotations/?image=${images.results[0].id}&limit=1`)).count, 3);
  assert.deepEqual(b.problems, [], 'console errors or failed requests');
});
