// The browser UI end to end: headless Chromium against a real `exact serve` with real slides
// (scripts/test-ui starts both). Tests run in order and build on each other's annotations.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN,
  BASE,
  TYPES,
  annotations,
  browser,
  click,
  drag,
  loginThroughForm,
  openViewer,
  rest,
  shot,
  write,
} from './helpers.mjs';
import { setup } from './helpers.mjs';

const ANN = '/api/v1/annotations/annotations/';
// Until the event stream and the overview tiles (branch uisrv) are merged, the page asks for
// them once, gets a 404 and falls back to polling / vectors only; those refusals are expected.
const NO_EVENTS = [/^404 GET .*\/api\/v1\/events\/\?image=/, /^404 GET .*\/annotation_tiles\/generation$/, /status of 404/];

let data;
let main;
const byType = (name) => data.types.find((t) => t.name === name);
const key = (name) => String(data.types.indexOf(byType(name)) + 1);

before(async () => {
  data = await setup();
  main = await browser(NO_EVENTS);
});

after(async () => {
  await main?.close();
});

function clean(b) {
  assert.deepEqual(b.problems, [], 'console errors or failed requests');
}

describe('browser UI', () => {
  test('log in through the form and land where the user was going', async () => {
    const { page } = main;
    const image = data.images[0];
    await page.goto(`${BASE}/annotations/${image.id}/?xmin=0&ymin=0&xmax=1500&ymax=1000`);
    await page.waitForURL(/\/user\/login\/\?next=/);
    await loginThroughForm(page);
    await page.waitForURL(new RegExp(`/annotations/${image.id}/`));
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    assert.equal(await page.textContent('#username'), ADMIN);
    clean(main);
  });

  test('the viewer shows the slide, its chrome and the set', async () => {
    const { page } = main;
    const image = data.images[0];
    await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
    // The URL's viewport is restored: the left half of the slide is on screen.
    const b = await page.evaluate(() => [window.exact.toImage(0, 0), window.exact.toImage(document.getElementById('viewer').clientWidth, 0)]);
    assert.ok(b[0][0] > -400 && b[0][0] < 100 && b[1][0] > 1300 && b[1][0] < 2300, JSON.stringify(b));
    assert.match(await page.textContent('#magnification'), /×$/);
    assert.match(await page.textContent('#scalebar'), /µm|mm/);
    assert.equal(await page.locator('#types .type').count(), data.types.length);
    assert.equal(await page.locator('#strip .thumb').count(), data.images.length);
    await page.waitForFunction(() => [...document.querySelectorAll('#strip img')].every((i) => i.complete && i.naturalWidth > 0));
    // The URL follows panning.
    const box = await page.locator('#viewer').boundingBox();
    await page.mouse.move(box.x + 600, box.y + 400);
    await page.mouse.down();
    await page.mouse.move(box.x + 300, box.y + 400, { steps: 8 });
    await page.mouse.up();
    await page.waitForFunction(() => Number(new URLSearchParams(location.search).get('xmin')) > 200);
    await shot(page, '01-viewer');
    clean(main);
  });

  test('draw one annotation of every vector type with the mouse and keys', async () => {
    const { page } = main;
    const image = data.images[0];
    await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
    await page.keyboard.press('c');
    assert.match(await page.textContent('#mode'), /^draw/);

    await page.keyboard.press(key('Tumour box'));
    await write(page, 'POST', ANN, () => drag(page, [[100, 100], [300, 250]]), 201);
    // A click with a box type places one of the type's default size.
    await write(page, 'POST', ANN, () => click(page, 500, 150), 201);

    await page.keyboard.press(key('Mitosis'));
    await write(page, 'POST', ANN, () => click(page, 700, 150), 201);

    await page.keyboard.press(key('Axis'));
    await write(page, 'POST', ANN, () => drag(page, [[100, 400], [350, 500]]), 201);

    await page.keyboard.press(key('Border'));
    await click(page, 450, 400);
    await click(page, 550, 480);
    await click(page, 650, 420);
    await write(page, 'POST', ANN, () => page.keyboard.press('Enter'), 201);

    await page.keyboard.press(key('Region'));
    await click(page, 800, 400);
    await click(page, 1000, 400);
    await click(page, 1000, 600);
    await click(page, 800, 600);
    await write(page, 'POST', ANN, () => page.keyboard.press('v'), 201);
    // Freehand: press and drag traces the outline; releasing closes it.
    await write(page, 'POST', ANN, () => drag(page, [[1100, 400], [1250, 380], [1300, 500], [1200, 600], [1100, 550]]), 201);

    await page.keyboard.press(key('Field'));
    await write(page, 'POST', ANN, () => click(page, 300, 750), 201);

    // A global (image-level) type's key toggles the label.
    await write(page, 'POST', ANN, () => page.keyboard.press(key('Needs review')), 201);
    await shot(page, '02-drawn');

    const all = (await annotations(image.id, '&deleted=false')).filter((a) => !a.deleted);
    const count = (name) => all.filter((a) => a.annotation_type === byType(name).id).length;
    assert.equal(count('Tumour box'), 2);
    assert.equal(count('Mitosis'), 1);
    assert.equal(count('Axis'), 1);
    assert.equal(count('Border'), 1);
    assert.equal(count('Region'), 2);
    assert.equal(count('Field'), 1);
    assert.equal(count('Needs review'), 1);
    const box = all.find((a) => a.annotation_type === byType('Tumour box').id && a.vector.x1 < 200);
    assert.ok(Math.abs(box.vector.x1 - 100) <= 3 && Math.abs(box.vector.y2 - 250) <= 3, JSON.stringify(box.vector));
    const clicked = all.find((a) => a.annotation_type === byType('Tumour box').id && a.vector.x1 > 400);
    assert.equal(clicked.vector.x2 - clicked.vector.x1, 120);
    assert.equal(clicked.vector.y2 - clicked.vector.y1, 80);
    const field = all.find((a) => a.annotation_type === byType('Field').id);
    assert.equal(field.vector.x2 - field.vector.x1, 200);
    const point = all.find((a) => a.annotation_type === byType('Mitosis').id);
    assert.equal(point.vector.x2 - point.vector.x1, 60);
    const border = all.find((a) => a.annotation_type === byType('Border').id);
    assert.equal(Object.keys(border.vector).length, 6);
    const regions = all.filter((a) => a.annotation_type === byType('Region').id);
    assert.ok(regions.some((r) => Object.keys(r.vector).length === 8));
    assert.ok(regions.some((r) => Object.keys(r.vector).length > 8), 'freehand polygon has many nodes');
    assert.equal(all.find((a) => a.annotation_type === byType('Needs review').id).vector, null);
    // The panel counts them.
    await page.waitForFunction((id) => document.querySelector(`#types [data-type="${id}"] .count`)?.textContent === '2', byType('Tumour box').id);
    clean(main);
  });

  test('move, edit a vertex, relabel, delete and undo the delete', async () => {
    const { page } = main;
    const image = data.images[0];
    await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
    assert.match(await page.textContent('#mode'), /^select/);
    const before = await annotations(image.id, '&deleted=false');
    const box = before.find((a) => a.annotation_type === byType('Tumour box').id && a.vector.x1 < 200);
    const square = before.find((a) => a.annotation_type === byType('Region').id && Object.keys(a.vector).length === 8);
    const point = before.find((a) => a.annotation_type === byType('Mitosis').id);

    // Move the box by dragging its inside.
    let saved = await write(page, 'PATCH', `${ANN}${box.id}/`, () => drag(page, [[200, 175], [260, 215], [300, 225]]), 200);
    assert.ok(Math.abs(saved.vector.x1 - 200) <= 3 && Math.abs(saved.vector.y1 - 150) <= 3, JSON.stringify(saved.vector));
    assert.equal(await page.textContent('#selected-id'), String(box.id));

    // Select the square polygon, then drag its first vertex.
    await click(page, 900, 500);
    await page.waitForFunction((id) => window.exact.selected() === id, square.id);
    saved = await write(page, 'PATCH', `${ANN}${square.id}/`, () => drag(page, [[800, 400], [760, 380], [750, 350]]), 200);
    assert.ok(Math.abs(saved.vector.x1 - 750) <= 3 && Math.abs(saved.vector.y1 - 350) <= 3, JSON.stringify(saved.vector));
    assert.equal(saved.vector.x2, square.vector.x2);
    assert.match(await page.textContent('#measure'), /µm²/);

    // Relabel the moved box with a number key.
    await click(page, 250, 200);
    await page.waitForFunction((id) => window.exact.selected() === id, box.id);
    saved = await write(page, 'PATCH', `${ANN}${box.id}/`, () => page.keyboard.press(key('Stroma box')), 200);
    assert.equal(saved.annotation_type, byType('Stroma box').id);

    // Delete the point, then undo the delete.
    await click(page, 700, 150);
    await page.waitForFunction((id) => window.exact.selected() === id, point.id);
    // The viewer deletes as EXACT's visible soft delete (PATCH deleted=true), so undo can bring
    // the annotation back; DELETE would move it to the trash.
    saved = await write(page, 'PATCH', `${ANN}${point.id}/`, () => page.keyboard.press('Delete'), 200);
    assert.equal(saved.deleted, true);
    assert.equal((await rest('GET', `${ANN}${point.id}/`)).deleted, true);
    await write(page, 'PATCH', `${ANN}${point.id}/`, () => page.keyboard.press('Control+z'), 200);
    assert.equal((await rest('GET', `${ANN}${point.id}/`)).deleted, false);
    // The panel's counts follow the writes without a recount.
    const counts = ['Stroma box', 'Tumour box', 'Mitosis'].map((n) => byType(n).id);
    await page.waitForFunction((ids) => ids.every((id) => document.querySelector(`#types [data-type="${id}"] .count`)?.textContent === '1'), counts);
    await shot(page, '03-edited');
    clean(main);
  });

  test('ruler, image filter, hiding annotations and the next/previous image', async () => {
    const { page } = main;
    const [first, second] = data.images;
    await openViewer(page, first.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
    // The slide's MPP is 0.5: a 300 × 400 px drag is 500 px = 250 µm.
    await page.keyboard.press('m');
    await drag(page, [[100, 100], [250, 300], [400, 500]]);
    assert.match(await page.textContent('#ruler'), /^Ruler: 25\d\.\d µm$/);
    await page.keyboard.press('m');
    await page.locator('#filter-gamma').fill('2');
    assert.equal(await page.evaluate(() => document.querySelector('#viewer .openseadragon-canvas canvas').style.filter), 'url("#exact-filter")');
    await page.keyboard.press('y');
    assert.equal(await page.evaluate(() => window.exact.shown()), false);
    await page.keyboard.press('y');
    assert.equal(await page.evaluate(() => window.exact.shown()), true);
    await page.keyboard.press('e');
    await page.waitForURL(new RegExp(`/annotations/${second.id}/`));
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.textContent('#image-name'), second.name);
    await page.keyboard.press('q');
    await page.waitForURL(new RegExp(`/annotations/${first.id}/`));
    await page.waitForSelector('body[data-ready="1"]');
    clean(main);
  });

  test('resize a box, undo and redo it, edit its remark and jump to it from the list', async () => {
    const { page } = main;
    const image = data.images[0];
    const made = await rest('POST', ANN, { image: image.id, annotation_type: byType('Tumour box').id, vector: { x1: 1000, y1: 680, x2: 1150, y2: 780 } });
    await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
    await page.waitForFunction((id) => window.exact.held().includes(id), made.id);
    await click(page, 1075, 730);
    await page.waitForFunction((id) => window.exact.selected() === id, made.id);
    // Drag the bottom-right handle: the box grows, its top-left stays.
    let saved = await write(page, 'PATCH', `${ANN}${made.id}/`, () => drag(page, [[1150, 780], [1170, 790], [1180, 800]]), 200);
    assert.ok(Math.abs(saved.vector.x2 - 1180) <= 3 && Math.abs(saved.vector.y2 - 800) <= 3, JSON.stringify(saved.vector));
    assert.deepEqual([saved.vector.x1, saved.vector.y1], [1000, 680]);
    // Undo puts the old size back on the server; redo the new one.
    saved = await write(page, 'PATCH', `${ANN}${made.id}/`, () => page.keyboard.press('Control+z'), 200);
    assert.deepEqual(saved.vector, { x1: 1000, y1: 680, x2: 1150, y2: 780 });
    saved = await write(page, 'PATCH', `${ANN}${made.id}/`, () => page.keyboard.press('Control+Shift+z'), 200);
    assert.ok(Math.abs(saved.vector.x2 - 1180) <= 3, JSON.stringify(saved.vector));
    assert.ok(Math.abs((await rest('GET', `${ANN}${made.id}/`)).vector.x2 - 1180) <= 3);
    // The remark, edited in the panel, is saved.
    await page.fill('#remark', 'mitotic figure, checked');
    saved = await write(page, 'PATCH', `${ANN}${made.id}/`, () => page.click('#save-remark'), 200);
    assert.equal(saved.description, 'mitotic figure, checked');
    assert.equal((await rest('GET', `${ANN}${made.id}/`)).description, 'mitotic figure, checked');
    // Jump to it from the list (found by its remark): centred, zoomed in and selected.
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => window.exact.selected() === null);
    await page.fill('#search', 'mitotic figure');
    await page.waitForFunction(() => document.querySelectorAll('#annotation-list .row').length === 1);
    await page.click(`#annotation-list .row[data-id="${made.id}"]`);
    await page.waitForFunction((id) => window.exact.selected() === id, made.id);
    await page.waitForFunction(() => window.exactViewerReady === true);
    const [cx, cy, width] = await page.evaluate(() => {
      const v = document.getElementById('viewer');
      const [x0, y0] = window.exact.toImage(0, 0);
      const [x1, y1] = window.exact.toImage(v.clientWidth, v.clientHeight);
      return [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0];
    });
    assert.ok(Math.abs(cx - 1090) < 30 && Math.abs(cy - 740) < 30, `centre ${cx},${cy}`);
    assert.ok(width < 1400, `still zoomed out: ${width} px wide`);
    await page.fill('#search', '');
    clean(main);
  });

  test('after a reload every change is on the server and on screen', async () => {
    const { page } = main;
    const image = data.images[0];
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    const live = (await annotations(image.id, '&deleted=false')).filter((a) => a.vector !== null);
    await page.waitForFunction((n) => window.exact.held().length >= n, live.length);
    const held = await page.evaluate(() => window.exact.held());
    for (const a of live) assert.ok(held.includes(a.id), `annotation ${a.id} not shown after reload`);
    const stroma = live.filter((a) => a.annotation_type === byType('Stroma box').id);
    assert.equal(stroma.length, 1);
    assert.ok(Math.abs(stroma[0].vector.x1 - 200) <= 3);
    assert.equal(live.filter((a) => a.annotation_type === byType('Mitosis').id).length, 1);
    // The searchable list finds the relabelled box by its type.
    await page.fill('#search', 'stroma');
    await page.waitForFunction(() => document.querySelectorAll('#annotation-list .row').length === 1);
    clean(main);
  });

  test('a colleague sees a new annotation without reloading, with who made it', async () => {
    const image = data.images[0];
    const other = await browser(NO_EVENTS);
    try {
      await other.page.goto(`${BASE}/annotations/${image.id}/?xmin=0&ymin=0&xmax=1500&ymax=1000`);
      await loginThroughForm(other.page, data.colleague.username, data.colleague.password);
      await other.page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
      const { page } = main;
      await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1500&ymax=1000');
      await page.keyboard.press('c');
      await page.keyboard.press(key('Tumour box'));
      const made = await write(page, 'POST', ANN, () => drag(page, [[400, 800], [550, 900]]), 201);
      const t0 = Date.now();
      await other.page.waitForFunction((id) => window.exact.held().includes(id), made.id, { timeout: 5000 });
      const waited = Date.now() - t0;
      assert.ok(waited <= 2500, `took ${waited} ms`);
      await other.page.waitForFunction((who) => document.getElementById('feed')?.textContent?.includes(who), ADMIN);
      const tumours = (await annotations(image.id, `&deleted=false&annotation_type=${byType('Tumour box').id}`)).length;
      await other.page.waitForFunction(([id, n]) => document.querySelector(`#types [data-type="${id}"] .count`)?.textContent === String(n), [byType('Tumour box').id, tumours]);
      await shot(other.page, '04-colleague');
      clean(other);
      clean(main);
    } finally {
      await other.close();
    }
  });

  test('verify and reject in the verification view', async () => {
    const { page } = main;
    const image = data.images[0];
    const boxes = (await annotations(image.id, `&deleted=false&annotation_type=${byType('Tumour box').id}`)).sort((a, b) => a.id - b.id);
    assert.ok(boxes.length >= 2);
    await page.goto(`${BASE}/annotations/${boxes[0].id}/verify/`);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.evaluate(() => document.body.dataset.current), String(boxes[0].id));
    await write(page, 'POST', '/api/v1/annotations/verifications/', () => page.keyboard.press('j'), 201);
    await page.waitForFunction((id) => document.body.dataset.current === String(id), boxes[1].id);
    await write(page, 'POST', '/api/v1/annotations/verifications/', () => page.keyboard.press('k'), 201);
    await shot(page, '05-verify');
    const verdicts = async (id) => (await rest('GET', `/api/v1/annotations/verifications/?annotation=${id}`)).results;
    assert.deepEqual((await verdicts(boxes[0].id)).map((v) => v.verified), [true]);
    assert.deepEqual((await verdicts(boxes[1].id)).map((v) => v.verified), [false]);
    // A verdict moves on (unless at the end); s goes back; e opens the viewer at the annotation.
    const [after, back] = boxes.length > 2 ? [boxes[2], boxes[1]] : [boxes[1], boxes[0]];
    await page.waitForFunction((id) => document.body.dataset.current === String(id), after.id);
    await page.keyboard.press('s');
    await page.waitForFunction((id) => document.body.dataset.current === String(id), back.id);
    await page.keyboard.press('e');
    await page.waitForURL(new RegExp(`/annotations/${image.id}/\\?`));
    await page.waitForSelector('body[data-ready="1"]');
    clean(main);
  });

  test('model proposals: the review queue least certain first, and the viewer layer by score', async () => {
    const { page } = main;
    const image = data.images[1];
    const type = byType('Stroma box');
    const made = [];
    for (const [i, score] of [0.9, 0.2, 0.6, 0.4].entries()) {
      const x = 100 + i * 200;
      made.push(
        await rest('POST', ANN, {
          image: image.id,
          annotation_type: type.id,
          vector: { x1: x, y1: 100, x2: x + 100, y2: 180 },
          meta_data: { generated: true, model: 'colour', version: '1.0', score },
        }),
      );
    }
    const [p9, p2, p6, p4] = made.map((a) => a.id);
    // Opened on any proposal, the page shows the queue from its least certain one.
    await page.goto(`${BASE}/annotations/${p9}/verify/`);
    await page.waitForSelector('body[data-ready="1"]');
    assert.equal(await page.$eval('#verify-mode', (e) => e.value), 'proposals');
    await page.selectOption('#verify-scope', 'image');
    await page.waitForFunction((id) => document.body.dataset.current === String(id), p2);
    const status = await page.textContent('#verify-status');
    assert.match(status, /1 \/ 4 .*score 0\.2000 · model colour 1\.0/);
    await write(page, 'POST', '/api/v1/processing/review/accept/', () => page.keyboard.press('j'), 200);
    await page.waitForFunction((id) => document.body.dataset.current === String(id), p4);
    await write(page, 'POST', '/api/v1/processing/review/reject/', () => page.keyboard.press('k'), 200);
    await page.waitForFunction((id) => document.body.dataset.current === String(id), p6);
    assert.match(await page.textContent('#verify-status'), /1 \/ 2 .*score 0\.6000/);
    await shot(page, '05b-review-queue');
    const accepted = await rest('GET', `${ANN}${p2}/`);
    assert.equal(accepted.meta_data.generated, false);
    assert.equal(accepted.deleted, false);
    assert.equal((await rest('GET', `${ANN}${p4}/`)).deleted, true);
    const left = await rest('GET', `/api/v1/processing/review/?image=${image.id}&limit=1000`);
    assert.deepEqual(left.results.map((a) => a.id), [p6, p9]);

    // The viewer's proposals layer: off hides every proposal; a minimum score hides those below.
    await openViewer(page, image.id, '?xmin=0&ymin=0&xmax=1600&ymax=1200');
    const hidden = () => page.evaluate(() => window.exactProposals.hidden());
    assert.deepEqual(await hidden(), []);
    await page.click('#proposals-shown');
    await page.waitForFunction((ids) => JSON.stringify(window.exactProposals.hidden()) === JSON.stringify(ids), [p6, p9].sort((a, b) => a - b));
    await page.click('#proposals-shown');
    await page.$eval('#proposals-min-score', (e) => {
      e.value = '0.7';
      e.dispatchEvent(new Event('input'));
    });
    await page.waitForFunction((ids) => JSON.stringify(window.exactProposals.hidden()) === JSON.stringify(ids), [p6]);
    assert.equal(await page.textContent('#proposals-min-label'), '≥ 0.70');
    await rest('POST', '/api/v1/processing/review/reject/', { ids: [p6, p9] });
    clean(main);
  });

  test('screen three cells and find the progress through the API', async () => {
    const { page } = main;
    const image = data.images[0];
    await openViewer(page, image.id);
    await page.fill('#screening-size', '350');
    await write(page, 'PATCH', '/api/v1/images/screening_modes/', () => page.click('#screening-start'), 200);
    await write(page, 'PATCH', '/api/v1/images/screening_modes/', () => page.keyboard.press('d'), 200);
    await write(page, 'PATCH', '/api/v1/images/screening_modes/', () => page.keyboard.press('s'), 200);
    await shot(page, '06-screening');
    // Progress on the navigator: screened cells are painted there.
    const painted = await page.evaluate(() => {
      const c = document.getElementById('screening-progress');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
      return n;
    });
    assert.ok(painted > 0, 'no progress drawn on the navigator');
    // The screening mode of this user and image (POST returns the existing one).
    const mode = await rest('POST', '/api/v1/images/screening_modes/', { image: image.id, x_resolution: 350, y_resolution: 350 });
    const screened = Object.entries(mode.screening_tiles).filter(([, t]) => t.Screened).map(([k]) => Number(k)).sort((a, b) => a - b);
    const steps = mode.x_steps;
    assert.equal(mode.x_resolution, 350);
    assert.deepEqual(screened, [0, 1, 1 + steps].sort((a, b) => a - b));
    assert.equal(mode.current_index, 1 + steps);
    clean(main);
  });

  test('a crowded view shows the server overview tiles; zoomed in, vectors', async (t) => {
    const image = data.images[1];
    const probe = await fetch(`${BASE}/api/v1/images/images/${image.id}/annotation_tiles/generation`, {
      headers: { Authorization: 'Basic ' + Buffer.from(`${ADMIN}:${process.env.EXACT_PASSWORD ?? 'ui-secret'}`).toString('base64') },
    });
    if (probe.status === 404) return t.skip('the server has no overview tiles yet (branch uisrv)');
    // 10,000 small boxes: more than the viewer fetches for one view (8,000).
    const type = byType('Tumour box').id;
    const boxes = [];
    for (let i = 0; i < 10000; i++) {
      const x = 20 + (i % 100) * 15;
      const y = 20 + Math.floor(i / 100) * 11;
      boxes.push({ image: image.id, annotation_type: type, vector: { x1: x, y1: y, x2: x + 10, y2: y + 10 } });
    }
    await rest('POST', ANN, boxes);
    const { page } = main;
    const tiles = [];
    page.on('response', (r) => r.url().includes('/annotation_tiles_files/') && tiles.push(r.status()));
    await page.goto(`${BASE}/annotations/${image.id}/`);
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: 30000 });
    assert.ok(tiles.length > 0 && tiles.every((s) => s === 200 || s === 304), JSON.stringify(tiles));
    await shot(page, '08-overview');
    // Zoomed in to a corner: a few vectors from the viewport query, drawn on the canvas.
    await page.goto(`${BASE}/annotations/${image.id}/?xmin=0&ymin=0&xmax=200&ymax=150`);
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: 30000 });
    // Ready means painted: the count of drawn vectors is already there.
    const inView = await page.evaluate(() => window.inView);
    assert.ok(inView > 10 && inView < 500, `inView ${inView}`);
    await shot(page, '09-zoomed');
    clean(main);
  });

  test('an expired session sends the user to log in and back, keeping the drawing', async () => {
    const image = data.images[0];
    // The server sends browsers no Basic challenge, so an expired session is a plain 401
    // the page answers by going to the login form (no password dialog). Slide and overview
    // tiles still loading then get 401s too.
    const expired = [/^401 (GET|POST) .*\/api\/v1\/annotations\/annotations\//, /^401 GET .*\/(native|annotation_tiles)_files\//, /status of 401/, /Tile %s failed to load/];
    const b = await browser([...NO_EVENTS, ...expired]);
    try {
      const { page, context } = b;
      await page.goto(`${BASE}/annotations/${image.id}/?xmin=0&ymin=0&xmax=1500&ymax=1000`);
      await loginThroughForm(page);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
      await page.waitForFunction(() => ![...document.querySelectorAll('#types .count')].some((c) => c.textContent === '…'));
      // The session ends on the server (as when it expires) while the page is open.
      const cookies = await context.cookies(BASE);
      const jar = cookies.map((c) => `${c.name}=${c.value}`).join('; ');
      const csrf = cookies.find((c) => c.name === 'csrftoken').value;
      const out = await fetch(`${BASE}/api/v1/auth/logout/`, { method: 'POST', headers: { Cookie: jar, 'X-CSRFToken': csrf, Origin: BASE } });
      assert.equal(out.status, 200);
      await page.keyboard.press('c');
      await page.keyboard.press(key('Tumour box'));
      await drag(page, [[1200, 800], [1350, 950]]);
      await page.waitForURL(/\/user\/login\/\?next=/);
      await loginThroughForm(page);
      await page.waitForURL(new RegExp(`/annotations/${image.id}/\\?`));
      await page.waitForSelector('body[data-ready="1"]');
      assert.equal(await page.evaluate(() => window.exact.drafts()), 1);
      const saved = await write(page, 'POST', ANN, () => page.keyboard.press('Enter'), 201);
      assert.ok(Math.abs(saved.vector.x1 - 1200) <= 3 && Math.abs(saved.vector.y2 - 950) <= 3, JSON.stringify(saved.vector));
      assert.equal(await page.evaluate(() => window.exact.drafts()), 0);
      clean(b);
    } finally {
      await b.close();
    }
  });

  test('refused drawings and failed saves stay on screen with the server reason, to discard or retry', async () => {
    const image = data.images[0];
    const b = await browser([...NO_EVENTS, /40[03] POST .*\/api\/v1\/annotations\/annotations\//, /status of 40[03]/]);
    try {
      const { page, context } = b;
      await page.goto(`${BASE}/annotations/${image.id}/?xmin=0&ymin=0&xmax=1500&ymax=1000`);
      await loginThroughForm(page);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
      await page.keyboard.press('c');
      await page.keyboard.press(key('Tumour box'));
      // A drag along a straight horizontal line: a box without height.
      await write(page, 'POST', ANN, () => drag(page, [[100, 950], [200, 950]]), 400);
      await page.waitForSelector('.draft-error');
      assert.match(await page.textContent('.draft-error'), /y2 .*must be at least y1/);
      assert.equal(await page.evaluate(() => window.exact.drafts()), 1);
      await shot(page, '07-refused');
      await page.keyboard.press('Escape');
      assert.equal(await page.evaluate(() => window.exact.drafts()), 0);
      await page.waitForSelector('.draft-error', { state: 'detached' });

      // A polygon that crosses itself (a bow-tie) is refused, the crossing edges named.
      await page.keyboard.press(key('Region'));
      for (const [x, y] of [[100, 650], [300, 850], [300, 650], [100, 850]]) await click(page, x, y);
      await write(page, 'POST', ANN, () => page.keyboard.press('Enter'), 400);
      await page.waitForSelector('.draft-error');
      assert.match(await page.textContent('.draft-error'), /edge x1,y1→x2,y2 crosses edge x3,y3→x4,y4/);
      await page.keyboard.press('Escape');
      await page.waitForSelector('.draft-error', { state: 'detached' });

      // A save the server refuses for a passing reason (here its CSRF check, the token cookie
      // being gone) stays on screen with that reason; Enter offers it again once it can pass.
      const [token] = (await context.cookies(BASE)).filter((c) => c.name === 'csrftoken');
      await context.clearCookies({ name: 'csrftoken' });
      await page.keyboard.press(key('Tumour box'));
      await write(page, 'POST', ANN, () => drag(page, [[500, 650], [650, 760]]), 403);
      await page.waitForSelector('.draft-error');
      assert.match(await page.textContent('.draft-error'), /CSRF/);
      assert.equal(await page.evaluate(() => window.exact.drafts()), 1);
      await context.addCookies([token]);
      const saved = await write(page, 'POST', ANN, () => page.keyboard.press('Enter'), 201);
      assert.ok(Math.abs(saved.vector.x1 - 500) <= 3 && Math.abs(saved.vector.y2 - 760) <= 3, JSON.stringify(saved.vector));
      assert.equal(await page.evaluate(() => window.exact.drafts()), 0);
      await page.waitForSelector('.draft-error', { state: 'detached' });
      clean(b);
    } finally {
      await b.close();
    }
  });
  test('a stack with z levels and frames: the plane control steps, annotations keep their frame', async () => {
    const { page } = main;
    // Its own set and product (the strip of the other tests' set stays as it was).
    const stamp = Date.now().toString(36);
    const set = await rest('POST', '/api/v1/images/image_sets/', { name: `planes ${stamp}`, team: data.team.id });
    const product = await rest('POST', '/api/v1/administration/products/', { name: `planes ${stamp}`, team: data.team.id, imagesets: [set.id] });
    await rest('POST', '/api/v1/annotations/annotation_types/', { ...TYPES[0], product: product.id, sort_order: 0 });
    // 96 x 64, 2 z levels x 3 frames x 2 16-bit channels, written by tifffile.
    const file = new URL('../../fixtures/data/planes-t3-z2-c2.ome.tif', import.meta.url);
    const form = new FormData();
    form.set('image_type', '0');
    form.set('image_set', String(set.id));
    form.set('file_path', new Blob([fs.readFileSync(file)]), 'planes.ome.tif');
    let image = (await rest('POST', '/api/v1/images/images/', form)).results[0];
    for (let n = 0; n < 300 && image.state === 'converting'; n++) {
      await new Promise((r) => setTimeout(r, 100));
      image = await rest('GET', `/api/v1/images/images/${image.id}/?omit=annotations`);
    }
    assert.equal(image.state, 'ready');
    assert.deepEqual([image.depth, image.frames], [2, 3]);

    await openViewer(page, image.id, '?frame=2');
    assert.equal(await page.textContent('#plane-z'), 'z 1/2');
    assert.equal(await page.textContent('#plane-frame'), 'frame 2/3');
    const tiles = () => page.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((u) => u.includes('/native_files/')));
    assert.ok((await tiles()).every((u) => u.endsWith('?z=1&frame=2')), (await tiles()).join(' '));

    // `.`: the next frame, in place (no page load: a mark set on this page survives), at the
    // same viewport; its tiles are frame 3's; a box drawn there is saved on frame 3.
    await page.evaluate(() => { window.samePage = true; });
    const viewBefore = await page.evaluate(() => window.exact.toImage(0, 0));
    await page.keyboard.press('.');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('frame') === '3');
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: 30000 });
    assert.equal(await page.textContent('#plane-frame'), 'frame 3/3');
    assert.equal(await page.evaluate(() => window.samePage), true, 'stepping a plane must not reload the page');
    assert.deepEqual(await page.evaluate(() => window.exact.toImage(0, 0)), viewBefore, 'the viewport stays');
    assert.ok((await tiles()).some((u) => u.endsWith('?z=1&frame=3')), (await tiles()).join(' '));
    await page.keyboard.press('c');
    await page.keyboard.press('1');
    const saved = await write(page, 'POST', ANN, () => drag(page, [[20, 15], [60, 45]]), 201);
    assert.equal(saved.vector.frame, 3);
    // The server lists it on frame 3, not on frame 2.
    assert.deepEqual((await annotations(image.id, '&frame=3')).map((a) => a.id), [saved.id]);
    assert.deepEqual(await annotations(image.id, '&frame=2'), []);

    // PageDown: the z level below; the frame stays; the last frame has no next one.
    await page.keyboard.press('PageDown');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('z') === '2');
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: 30000 });
    assert.equal(await page.textContent('#plane-z'), 'z 2/2');
    assert.equal(await page.evaluate(() => window.samePage), true, 'stepping a plane must not reload the page');
    assert.ok((await tiles()).some((u) => u.endsWith('?z=2&frame=3')), (await tiles()).join(' '));
    // The annotation of frame 3 is held on z 2 as well (its frame, not its z, places it).
    assert.deepEqual(await page.evaluate(() => window.exact.held()), [saved.id]);
    assert.equal(await page.textContent('#plane-frame'), 'frame 3/3');
    assert.ok(await page.locator('#planes button[data-key="."]').isDisabled());
    await shot(page, '09-planes');
    clean(main);
  });
});

