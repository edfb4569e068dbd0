// The management pages end to end (issue 13), from an empty data directory: headless Chromium
// against a real `exact serve` this test starts (EXACT_BIN), real files uploaded by drag and
// drop, and the real EXACT-Sync client with a token made on the account page.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { browser, loginThroughForm, shot } from './helpers.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = process.env.EXACT_BIN;
const PY = process.env.EXACT_PYTHON ?? 'python3';
const SLIDE = path.join(here, '../../fixtures/data/CMU-1-Small-Region.svs');
const ROOT_PW = 'root-secret';
const MEMBER_PW = 'member-secret-1';

let base;
let work;
let server;
let admin;
let member;
const ids = {};

const basic = (u, p) => 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64');

async function rest(method, url, body, auth = basic('exact', ROOT_PW)) {
  const headers = { Authorization: auth };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(base + url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  assert.ok(BIN, 'EXACT_BIN names the exact binary (scripts/test-ui sets it)');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'exact-manage-'));
  execFileSync(PY, [path.join(here, 'make_uploads.py'), path.join(work, 'up')]);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(work, 'serve.log'), 'w');
  server = spawn(BIN, ['serve', '--data', path.join(work, 'data'), '--bind', `127.0.0.1:${port}`], {
    env: { ...process.env, EXACT_ADMIN_PASSWORD: ROOT_PW, EXACT_MAX_UPLOAD: '4000000' },
    stdio: ['ignore', log, log],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Refusals the journey provokes on purpose (each checked below where it happens).
  admin = await browser([
    /^400 POST .*\/api\/v1\/users\/users\/$/,
    /^400 POST .*\/api\/v1\/annotations\/annotation_types\/$/,
    /^400 POST .*\/api\/v1\/images\/image_sets\/$/,
    /status of 400/,
  ]);
  member = await browser([
    /^413 POST .*\/images\/image\/upload\/\d+\/$/,
    /^400 POST .*\/api\/v1\/users\/users\/\d+\/set_password\/$/,
    /status of (413|400)/,
  ]);
});

after(async () => {
  await admin?.close();
  await member?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (process.env.EXACT_DEBUG || process.exitCode) {
    console.error(fs.readFileSync(path.join(work, 'serve.log'), 'utf8').split('\n').slice(-30).join('\n'));
  }
  fs.rmSync(work, { recursive: true, force: true });
});

const clean = (b) => assert.deepEqual(b.problems, [], 'console errors or failed requests');

/** Submits a form and waits for the page to leave or re-render. */
async function submit(page, formId) {
  await page.click(`#${formId} button[type=submit]`);
}

async function fieldError(page, formId, name) {
  const slot = page.locator(`#${formId} [data-error-for="${name}"]`);
  await slot.waitFor({ state: 'visible' });
  return (await slot.textContent()).trim();
}

/** Drops files (paths) on the set page's drop zone, as a user dragging them from a file manager. */
async function dropFiles(page, files) {
  const payload = files.map((f) => ({ name: path.basename(f), data: fs.readFileSync(f).toString('base64') }));
  const dt = await page.evaluateHandle((payload) => {
    const dt = new DataTransfer();
    for (const { name, data } of payload) {
      const bin = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      dt.items.add(new File([bin], name));
    }
    return dt;
  }, payload);
  await page.dispatchEvent('#dropzone', 'dragover', { dataTransfer: dt });
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt });
}

describe('management pages', () => {
  test('the superuser sets up a lab: user, team with that member, product, types, set', async () => {
    const { page } = admin;
    await page.goto(`${base}/images/`);
    await page.waitForURL(/\/user\/login\/\?next=/);
    await loginThroughForm(page, 'exact', ROOT_PW);
    await page.waitForURL(/\/images\/$/);
    await page.waitForSelector('#create-team');

    // Administration: the status and a new user; a missing username is refused next to the field.
    await page.goto(`${base}/administration/`);
    await page.waitForSelector('#status [data-count=users]');
    assert.equal(await page.textContent('#status [data-count=users]'), '1');
    await page.fill('#create-user [name=password]', MEMBER_PW);
    await submit(page, 'create-user');
    assert.match(await fieldError(page, 'create-user', 'username'), /./);
    assert.equal((await rest('GET', '/api/v1/users/users/')).json.count, 1, 'nothing half-created');
    await page.fill('#create-user [name=username]', 'member');
    await Promise.all([page.waitForEvent('load'), submit(page, 'create-user')]);
    await page.waitForSelector('#user-table');
    assert.match(await page.textContent('#user-table'), /member/);

    // A team from the home page; the member added by username (an unknown one is refused there).
    await page.goto(`${base}/images/`);
    await page.fill('#create-team [name=name]', 'Lab');
    await Promise.all([page.waitForURL(/\/users\/team\/\d+\/$/), submit(page, 'create-team')]);
    ids.team = Number(page.url().match(/team\/(\d+)/)[1]);
    await page.fill('#add-member [name=username]', 'nobody');
    await submit(page, 'add-member');
    assert.match(await fieldError(page, 'add-member', 'username'), /No user called/);
    await page.fill('#add-member [name=username]', 'member');
    await Promise.all([page.waitForEvent('load'), submit(page, 'add-member')]);
    await page.waitForSelector('#member-table');
    assert.match(await page.textContent('#member-table'), /member/);

    // A product and its annotation types (a nameless one is refused next to the name).
    await page.fill('#create-product [name=name]', 'Mitosis study');
    await Promise.all([page.waitForURL(/\/administration\/product\/\d+\/$/), submit(page, 'create-product')]);
    ids.product = Number(page.url().match(/product\/(\d+)/)[1]);
    await page.waitForSelector('#create-type');
    await submit(page, 'create-type');
    assert.match(await fieldError(page, 'create-type', 'name'), /./);
    for (const [name, vt, order] of [['Mitosis', '1', '0'], ['Tumour', '1', '1']]) {
      await page.fill('#create-type [name=name]', name);
      await page.selectOption('#create-type select[name=vector_type]', vt);
      await page.fill('#create-type [name=sort_order]', order);
      await Promise.all([page.waitForEvent('load'), submit(page, 'create-type')]);
      await page.waitForSelector('#create-type');
    }
    const types = (await rest('GET', `/api/v1/annotations/annotation_types/?product=${ids.product}`)).json.results;
    assert.deepEqual(types.map((t) => [t.name, t.vector_type, t.sort_order]).sort(), [['Mitosis', 1, 0], ['Tumour', 1, 1]]);
    ids.types = Object.fromEntries(types.map((t) => [t.name, t.id]));

    // A set: without a team it is refused next to the team; then created, with the product.
    await page.goto(`${base}/images/`);
    await page.fill('#create-set [name=name]', 'Slides 2026');
    await page.selectOption('#create-set select[name=team]', '');
    await submit(page, 'create-set');
    assert.match(await fieldError(page, 'create-set', 'team'), /required/);
    assert.equal((await rest('GET', '/api/v1/images/image_sets/')).json.count, 0, 'nothing half-created');
    await page.selectOption('#create-set select[name=team]', String(ids.team));
    await Promise.all([page.waitForURL(/\/images\/imageset\/\d+\/$/), submit(page, 'create-set')]);
    ids.set = Number(page.url().match(/imageset\/(\d+)/)[1]);
    await Promise.all([page.waitForEvent('load'), submit(page, 'add-product')]);
    await page.waitForSelector('#set-products a');
    assert.match(await page.textContent('#set-products'), /Mitosis study/);
    await page.fill('#add-tag [name=name]', 'screening');
    await Promise.all([page.waitForEvent('load'), submit(page, 'add-tag')]);
    await page.waitForSelector('#set-tags .tag');
    await shot(page, 'manage-1-set');

    // Home: found by its tag, pinned with the keyboard.
    await page.goto(`${base}/images/`);
    await page.fill('#set-search', 'screen');
    await page.waitForSelector(`[data-set="${ids.set}"]`);
    await page.fill('#set-search', 'no such set');
    await page.waitForSelector(`[data-set="${ids.set}"]`, { state: 'detached' });
    await page.fill('#set-search', '');
    await page.focus(`[data-set="${ids.set}"] .pin`);
    await page.keyboard.press('Enter');
    await page.waitForSelector(`[data-set="${ids.set}"] .pin[aria-pressed="true"]`);
    assert.equal((await rest('GET', `/api/v1/images/image_sets/${ids.set}/`)).json.pinned, true);
    const theirs = await rest('GET', `/api/v1/images/image_sets/${ids.set}/`, undefined, basic('member', MEMBER_PW));
    assert.equal(theirs.json.pinned, false, 'pins are per user');
    clean(admin);
  });

  test('the member uploads by drag and drop: a slide, a PNG and a zip land, a broken file is refused with the reason', async () => {
    const { page } = member;
    await page.goto(`${base}/images/`);
    await loginThroughForm(page, 'member', MEMBER_PW);
    await page.waitForURL(/\/images\/$/);
    await page.waitForSelector(`[data-set="${ids.set}"]`);
    await page.click(`[data-set="${ids.set}"] a`);
    await page.waitForSelector('#dropzone');
    // Every state each image row shows, as the page renders them.
    await page.evaluate(() => {
      const seen = (window.seenStates = {});
      new MutationObserver(() => {
        for (const el of document.querySelectorAll('#image-table tbody tr')) {
          const name = el.children[1].textContent;
          const state = el.querySelector('.state')?.textContent ?? '';
          (seen[name] ??= []).at(-1) !== state && seen[name].push(state);
        }
      }).observe(document.getElementById('images'), { childList: true, subtree: true, characterData: true });
    });
    const up = path.join(work, 'up');
    await dropFiles(page, [SLIDE, path.join(up, 'big-picture.png'), path.join(up, 'batch.zip'), path.join(up, 'broken.svs'), path.join(up, 'huge.tif')]);
    const row = (name) => page.locator(`#upload-list li[data-file="${name}"]`);
    for (const name of ['CMU-1-Small-Region.svs', 'big-picture.png', 'batch.zip', 'broken.svs', 'huge.tif']) {
      await row(name).locator('xpath=self::*[@data-state="done" or @data-state="error" or @data-state="partial"]').waitFor({ timeout: 60000 });
    }
    assert.equal(await row('CMU-1-Small-Region.svs').getAttribute('data-state'), 'done');
    assert.equal(await row('big-picture.png').getAttribute('data-state'), 'done');
    assert.equal(await row('batch.zip').getAttribute('data-state'), 'done');
    assert.match(await row('batch.zip').textContent(), /2 images added/);
    assert.equal(await row('broken.svs').getAttribute('data-state'), 'error');
    const reason = (await row('broken.svs').locator('.upload-errors').textContent()).trim();
    assert.match(reason, /not an image exact-rs can read/, 'the server\'s reason is shown next to the file');
    assert.doesNotMatch(reason, new RegExp(work), 'no server path in the reason');
    assert.equal(await row('huge.tif').getAttribute('data-state'), 'error');
    assert.match(await row('huge.tif').locator('.upload-errors').textContent(), /larger than the upload limit of 4000000 bytes/);
    // The same slide again: a duplicate, said next to that file.
    await dropFiles(page, [SLIDE]);
    await row('CMU-1-Small-Region.svs').nth(1).locator('xpath=self::*[@data-state="error" or @data-state="partial" or @data-state="done"]').waitFor({ timeout: 60000 });
    assert.match(await row('CMU-1-Small-Region.svs').nth(1).textContent(), /Duplicate/);

    // The PNG goes from converting to ready; the page polls until it is.
    await page.waitForFunction(() => {
      const states = [...document.querySelectorAll('#image-table .state')].map((e) => e.textContent);
      return states.length === 4 && states.every((s) => s === 'ready');
    }, null, { timeout: 120000 });
    const seen = await page.evaluate(() => window.seenStates);
    assert.ok(seen['big-picture.png'].some((s) => s.startsWith('converting')), `states seen: ${JSON.stringify(seen)}`);
    assert.equal(seen['big-picture.png'].at(-1), 'ready');
    const images = (await rest('GET', `/api/v1/images/images/?image_set=${ids.set}&omit=annotations`)).json.results;
    assert.deepEqual(images.map((i) => i.name).sort(), ['CMU-1-Small-Region.svs', 'big-picture.png', 'zipped-a.png', 'zipped-b.png']);
    assert.ok(images.every((i) => i.state === 'ready'));
    ids.slide = images.find((i) => i.name === 'CMU-1-Small-Region.svs').id;
    await shot(page, 'manage-2-upload');

    // The set's zip without label and macro images: checked, then downloaded.
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#zip-deidentified')]);
    assert.equal(download.suggestedFilename(), `imageset_${ids.set}_deidentified.zip`);
    assert.equal(await page.locator('.action-error').first().textContent(), '');

    // Open the viewer from the set page.
    await Promise.all([page.waitForURL(new RegExp(`/annotations/${ids.slide}/`)), page.click('a.open-viewer:text("CMU-1-Small-Region.svs")')]);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
    await page.goto(`${base}/images/`); // leave the viewer: no tile loads left running
    clean(member);
  });

  test('the admin makes a set version and sees the difference after an edit', async () => {
    const { page } = admin;
    const made = await rest('POST', '/api/v1/annotations/annotations/', {
      image: ids.slide, annotation_type: ids.types.Mitosis, vector: { x1: 100, y1: 100, x2: 160, y2: 150 },
    }, basic('member', MEMBER_PW));
    assert.equal(made.status, 201, JSON.stringify(made.json));
    await page.goto(`${base}/images/imageset/${ids.set}/`);
    await page.waitForFunction((id) => document.querySelector(`[data-count-of="${id}"]`)?.textContent === '1', ids.slide);
    await page.fill('#create-version [name=name]', 'before review');
    await submit(page, 'create-version');
    await page.waitForSelector('#version-table');
    // The edit: relabel on the annotation management page (one atomic call).
    await page.click('#manage-link');
    await page.waitForSelector('#annotation-table');
    await page.check(`input[data-annotation="${made.json.id}"]`);
    await page.selectOption('#relabel-type', String(ids.types.Tumour));
    await page.click('#bulk-relabel');
    await page
      .waitForFunction(() => document.querySelector('#annotation-table tbody')?.textContent.includes('Tumour'), null, { timeout: 15000 })
      .catch(async (e) => assert.fail(`${e}: ${await page.textContent('#bulk')}`));
    assert.equal((await rest('GET', `/api/v1/annotations/annotations/${made.json.id}/`)).json.annotation_type, ids.types.Tumour);
    // The gallery shows the crop.
    await page.selectOption('#annotation-filters select[name=view]', 'gallery');
    await page.click('#annotation-filters button[type=submit]');
    await page.waitForSelector('#gallery img');
    await page.waitForFunction(() => [...document.querySelectorAll('#gallery img')].every((i) => i.complete && i.naturalWidth > 0));
    // To the trash and back (EXACT's DELETE is a 404 afterwards; restore brings it back live).
    const ann = `/api/v1/annotations/annotations/${made.json.id}/`;
    const box = `input[data-annotation="${made.json.id}"]`;
    await page.selectOption('#annotation-filters select[name=view]', 'table');
    await page.click('#annotation-filters button[type=submit]');
    await page.check(box);
    await page.click('#bulk-delete');
    await page.waitForSelector(box, { state: 'detached' });
    assert.equal((await rest('GET', ann)).status, 404);
    await page.selectOption('#annotation-filters select[name=deleted]', 'trash');
    await page.click('#annotation-filters button[type=submit]');
    await page.check(box);
    await page.click('#bulk-restore');
    await page.waitForSelector(box, { state: 'detached' });
    assert.equal((await rest('GET', ann)).json.annotation_type, ids.types.Tumour);
    await page.goto(`${base}/images/imageset/${ids.set}/`);
    await page.click('#version-table button');
    await page.waitForFunction(() => /changed since/.test(document.querySelector('#version-table .diff')?.textContent ?? ''));
    assert.match(await page.textContent('#version-table .diff'), /1 annotations in the version, 1 changed since, 1 live now/);
    clean(admin);
  });

  test('account: a token works with the real EXACT-Sync client until revoked; password change; log out everywhere', async () => {
    const { page } = member;
    await page.goto(`${base}/users/account/`);
    await page.fill('#create-token [name=name]', 'sync');
    await submit(page, 'create-token');
    await page.waitForSelector('#token-secret');
    const token = await page.inputValue('#token-secret');
    assert.match(await page.textContent('#snippet-sync'), new RegExp(token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    const out = execFileSync(PY, [path.join(here, 'sync_token.py'), base, token], { encoding: 'utf8' });
    assert.deepEqual(JSON.parse(out), ['Slides 2026']);
    await page.click('#token-table button:text("Revoke")');
    await page.waitForFunction(() => /revoked/.test(document.querySelector('#token-table')?.textContent ?? ''));
    assert.equal((await rest('GET', '/api/v1/images/image_sets/', undefined, `Bearer ${token}`)).status, 401);

    // Change the password: a wrong current one is refused next to that field, then it works.
    await page.fill('#change-password [name=old_password]', 'not-my-password');
    await page.fill('#change-password [name=password]', 'member-secret-2');
    await submit(page, 'change-password');
    assert.match(await fieldError(page, 'change-password', 'old_password'), /does not match/);
    await page.fill('#change-password [name=old_password]', MEMBER_PW);
    await page.fill('#change-password [name=password]', 'member-secret-2');
    await submit(page, 'change-password');
    await page.waitForSelector('#change-password .ok');
    assert.equal((await rest('GET', '/api/v1/auth/me/', undefined, basic('member', 'member-secret-2'))).status, 200);
    assert.equal((await rest('GET', '/api/v1/auth/me/', undefined, basic('member', MEMBER_PW))).status, 401);
    // Log out everywhere: this browser's session ends too.
    await Promise.all([page.waitForURL(/\/user\/login\//), page.click('#logout-all')]);
    await page.goto(`${base}/images/`);
    await page.waitForURL(/\/user\/login\/\?next=/);
    clean(member);
  });

  test('a member of another team sees none of it', async () => {
    await rest('POST', '/api/v1/users/users/', { username: 'outsider', password: 'outsider-secret' });
    const other = await browser([/^404 GET .*\/api\/v1\/images\/image_sets\/\d+\/$/, /status of 404/]);
    try {
      const { page } = other;
      await page.goto(`${base}/images/`);
      await loginThroughForm(page, 'outsider', 'outsider-secret');
      await page.waitForURL(/\/images\/$/);
      await page.waitForSelector('#team-list');
      assert.doesNotMatch(await page.textContent('#main'), /Slides 2026|Lab/);
      await page.goto(`${base}/images/imageset/${ids.set}/`);
      await page.waitForSelector('.page-error');
      assert.match(await page.textContent('.page-error'), /404/);
      const auth = basic('outsider', 'outsider-secret');
      assert.equal((await rest('GET', '/api/v1/images/images/', undefined, auth)).json.count, 0);
      assert.equal((await rest('GET', '/api/v1/annotations/annotations/', undefined, auth)).json.count, 0);
      clean(other);
    } finally {
      await other.close();
    }
  });
});
