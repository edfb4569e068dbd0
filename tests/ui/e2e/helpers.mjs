// Shared by the UI tests: REST calls as the admin (HTTP Basic), the test data (a team, a set,
// a product with one annotation type per vector type, two real slides), and browsers whose
// console errors and failed requests are collected so every test can assert there were none.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const BASE = process.env.EXACT_URL ?? 'http://127.0.0.1:8000';
export const ADMIN = process.env.EXACT_USER ?? 'exact';
export const PASSWORD = process.env.EXACT_PASSWORD ?? 'ui-secret';
export const SLIDES = (process.env.EXACT_SLIDES ?? '').split(',').filter(Boolean);
export const SHOTS = process.env.EXACT_SHOTS ?? '';

const basic = (user, password) => 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

export async function rest(method, url, body, auth = basic(ADMIN, PASSWORD)) {
  const headers = { Authorization: auth };
  let payload;
  if (body instanceof FormData) payload = body;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(BASE + url, { method, headers, body: payload });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status} ${text}`);
  return json;
}

/** The types the tests use, in hotkey (sort) order: digit n selects TYPES[n-1]. */
export const TYPES = [
  { name: 'Tumour box', vector_type: 1, color_code: '#e53935', default_width: 120, default_height: 80 },
  { name: 'Mitosis', vector_type: 2, color_code: '#43a047', default_width: 60, default_height: 60 },
  { name: 'Axis', vector_type: 3, color_code: '#1e88e5' },
  { name: 'Border', vector_type: 4, color_code: '#fdd835' },
  { name: 'Region', vector_type: 5, color_code: '#8e24aa' },
  { name: 'Field', vector_type: 6, color_code: '#00acc1', default_width: 200, default_height: 150 },
  { name: 'Needs review', vector_type: 7, color_code: '#6d4c41' },
  { name: 'Stroma box', vector_type: 1, color_code: '#fb8c00', default_width: 100, default_height: 100 },
];

/** A team, a set with the slides, a product with TYPES, and a colleague in the team. */
export async function setup() {
  const stamp = Date.now().toString(36);
  const team = await rest('POST', '/api/v1/users/teams/', { name: `ui ${stamp}` });
  const set = await rest('POST', '/api/v1/images/image_sets/', { name: `ui set ${stamp}`, team: team.id });
  const product = await rest('POST', '/api/v1/administration/products/', { name: `ui product ${stamp}`, team: team.id, imagesets: [set.id] });
  const types = [];
  for (const [i, t] of TYPES.entries()) {
    types.push(await rest('POST', '/api/v1/annotations/annotation_types/', { ...t, product: product.id, sort_order: i }));
  }
  const images = [];
  for (const file of SLIDES) {
    const form = new FormData();
    form.set('image_type', '0');
    form.set('image_set', String(set.id));
    form.set('file_path', new Blob([fs.readFileSync(file)]), path.basename(file));
    const created = await rest('POST', '/api/v1/images/images/', form);
    images.push(created.results[0]);
  }
  for (const [i, img] of images.entries()) {
    for (let n = 0; n < 600; n++) {
      const now = await rest('GET', `/api/v1/images/images/${img.id}/?omit=annotations`);
      if (now.state !== 'converting') {
        images[i] = now;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(images[i].state, 'ready', `slide ${img.name} did not become ready`);
  }
  images.sort((a, b) => a.name.localeCompare(b.name));
  const colleague = await rest('POST', '/api/v1/users/users/', { username: `colleague${stamp}`, password: 'colleague-secret' });
  await rest('POST', '/api/v1/users/team_membership/', { team: team.id, user: colleague.id });
  return { team, set, product, types, images, colleague: { ...colleague, password: 'colleague-secret' } };
}

/**
 * A fresh headless Chromium profile. `problems` collects console errors, page errors, failed
 * requests and HTTP errors; `allow` (regexps on "STATUS URL" or the console text) lists the
 * ones a test provokes on purpose.
 */
export async function browser(allow = [], options = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exact-ui-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    ...options,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const problems = [];
  const allowed = (text) => allow.some((re) => re.test(text));
  const watch = (page) => {
    if (process.env.EXACT_DEBUG) {
      page.on('console', (m) => console.log(`[console ${m.type()}] ${m.text()}`));
      page.on('response', (r) => console.log(`[http] ${r.status()} ${r.request().method()} ${r.url()}`));
      page.on('framenavigated', (f) => f === page.mainFrame() && console.log(`[nav] ${f.url()}`));
    }
    page.on('console', (m) => {
      if (m.type() === 'error' && !allowed(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('requestfailed', (r) => {
      const text = `${r.failure()?.errorText} ${r.url()}`;
      // Navigating away cancels what the old page still loads (tiles, the event stream).
      if (/ERR_ABORTED/.test(text)) return;
      if (!allowed(text)) problems.push(`requestfailed: ${text}`);
    });
    page.on('response', (r) => {
      const text = `${r.status()} ${r.request().method()} ${r.url()}`;
      if (r.status() >= 400 && !allowed(text)) problems.push(`http: ${text}`);
    });
  };
  context.on('page', watch);
  const page = context.pages()[0] ?? (await context.newPage());
  watch(page);
  return {
    context,
    page,
    problems,
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function loginThroughForm(page, user = ADMIN, password = PASSWORD) {
  await page.waitForSelector('#login-form');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await page.click('#login-form button[type=submit]');
}

export async function openViewer(page, imageId, query = '') {
  await page.goto(`${BASE}/annotations/${imageId}/${query}`);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 30000 });
}

/** Screen position (page coordinates) of a level-0 pixel in the viewer. */
export async function screen(page, x, y) {
  return page.evaluate(([x, y]) => {
    const [sx, sy] = window.exact.toScreen(x, y);
    const r = document.getElementById('viewer').getBoundingClientRect();
    return [r.left + sx, r.top + sy];
  }, [x, y]);
}

export async function click(page, x, y) {
  const [sx, sy] = await screen(page, x, y);
  await page.mouse.click(sx, sy);
}

export async function drag(page, points) {
  const [first, ...rest] = points;
  const [sx, sy] = await screen(page, first[0], first[1]);
  await page.mouse.move(sx, sy);
  await page.mouse.down();
  for (const [x, y] of rest) {
    const [px, py] = await screen(page, x, y);
    await page.mouse.move(px, py, { steps: 4 });
  }
  await page.mouse.up();
}

export async function shot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
}

/** Waits for the response of an API write the page makes while `action` runs. */
export async function write(page, method, urlPart, action, status) {
  const [res] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === method && r.url().includes(urlPart), { timeout: 15000 }),
    action(),
  ]);
  if (status !== undefined) assert.equal(res.status(), status, `${method} ${res.url()}: ${await res.text()}`);
  return res.status() < 300 && res.status() !== 204 ? res.json() : null;
}

export async function annotations(imageId, extra = '') {
  const page = await rest('GET', `/api/v1/annotations/annotations/?image=${imageId}&limit=10000${extra}`);
  return page.results;
}
