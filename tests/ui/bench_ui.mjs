// UI performance benchmark (issue 12): headless Debian chromium (playwright-core) against a real
// `exact serve` holding an image with many annotations (seeded by seed_ui.py). Measures, for our
// viewer and, in the same run, for EXACT's way of drawing (a Paper.js overlay over
// OpenSeadragon with one Paper.js path per annotation, on a static page served here):
//   - time from navigation to an interactive, complete view (the page sets
//     `window.exactViewerReady = true`, see /work/ui-contract.md §3);
//   - median frame time (requestAnimationFrame intervals) while panning and zooming with the
//     mouse, at ~2,000 and ~10,000 annotations in view and at low zoom (whole slide);
//   - the time to save one annotation among them (POST from the page, median of 10).
// "ours" is the real UI at /annotations/<id>/ when the server serves it; until then a stub page
// served here (OpenSeadragon + our overview tiles + one canvas drawn per frame from typed
// arrays) stands in, and the output says so.
//
// Usage: node bench_ui.mjs BASE USER PASSWORD SEED_JSON   (bench_ui.sh does all of it)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [base, user, password, seedFile] = process.argv.slice(2);
const seed = JSON.parse(fs.readFileSync(seedFile, 'utf8'));
const here = path.dirname(fileURLToPath(import.meta.url));
const mods = path.join(here, 'node_modules');
const WIN = { width: 1280, height: 800 };
const basic = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');

// Uniform density of the seeded annotations: the viewport holding `count` of them.
const density = seed.n / ((seed.size - 140) ** 2);
function scene(count) {
  const w = Math.sqrt((count / density) * (WIN.width / WIN.height));
  const h = w * (WIN.height / WIN.width);
  const cx = seed.size / 2, cy = seed.size / 2;
  return { xmin: Math.round(cx - w / 2), ymin: Math.round(cy - h / 2),
           xmax: Math.round(cx + w / 2), ymax: Math.round(cy + h / 2) };
}
const scenes = [
  { name: 'high zoom (~2,000 in view)', vp: scene(2000), baseline: true },
  { name: '~10,000 in view', vp: scene(10000), baseline: true },
  { name: 'low zoom (whole slide)', vp: { xmin: 0, ymin: 0, xmax: seed.size, ymax: seed.size }, baseline: false },
];

// ---- the pages served by the benchmark ----

const common = `
  window.exactViewerReady = false;
  window.addEventListener('unhandledrejection', (e) => console.error('unhandled: ' + (e.reason && e.reason.stack || e.reason)));
  const params = new URLSearchParams(location.search);
  const image = ${seed.image};
  const vp0 = ['xmin','ymin','xmax','ymax'].map((k) => Number(params.get(k)));
  const colors = ${JSON.stringify(Object.fromEntries(seed.types.map((t, i) => [t, i ? '#1E88E5' : '#E53935'])))};
  async function fetchAnnotations(x0, y0, x1, y1) {
    const q = new URLSearchParams({ image, vector_x_min: x0, vector_x_max: x1, vector_y_min: y0,
      vector_y_max: y1, limit: 200000, fields: 'id,vector,annotation_type', deleted: 'false' });
    const r = await fetch('/api/v1/annotations/annotations/?' + q);
    if (!r.ok) throw new Error('annotations: ' + r.status);
    return (await r.json()).results;
  }
  function goTo(viewer, x0, y0, x1, y1) {
    const item = viewer.world.getItemAt(0);
    const rect = item.imageToViewportRectangle(x0, y0, x1 - x0, y1 - y0);
    viewer.viewport.fitBounds(rect, true);
  }
  function fullyLoaded(viewer) {
    console.log('waiting for tiles');
    return new Promise((resolve) => {
      let polls = 0;
      const check = () => {
        polls++;
        const states = [];
        for (let i = 0; i < viewer.world.getItemCount(); i++) {
          const item = viewer.world.getItemAt(i);
          // Hidden layers load nothing.
          states.push(item.getOpacity() === 0 || item.getFullyLoaded());
        }
        if (polls % 100 === 0) console.log('tiles', JSON.stringify(states), viewer.imageLoader.jobsInProgress, viewer.world.needsDraw());
        if (states.every((s) => s)) return resolve();
        setTimeout(check, 20);
      };
      check();
    });
  }
`;

// EXACT's way: Paper.js over OpenSeadragon, one path per annotation, the Paper.js view synced
// to the viewport on every animation frame and stroke widths updated on zoom.
const paperPage = `<!doctype html><html><body style="margin:0;overflow:hidden">
<div id="v" style="position:absolute;inset:0"></div>
<canvas id="p" style="position:absolute;inset:0;width:100%;height:100%;pointer-events:none" resize></canvas>
<script src="/__bench__/osd/openseadragon.min.js"></script>
<script src="/__bench__/paper/paper-core.min.js"></script>
<script>${common}
  const viewer = OpenSeadragon({ id: 'v', prefixUrl: '/__bench__/osd/images/', showNavigationControl: false, drawer: 'canvas',
    tileSources: '/api/v1/images/images/' + image + '/native.dzi' });
  paper.setup(document.getElementById('p'));
  let paths = [];
  function sync() {
    const item = viewer.world.getItemAt(0);
    if (!item) return;
    const zoom = item.viewportToImageZoom(viewer.viewport.getZoom(true));
    const c = item.viewportToImageCoordinates(viewer.viewport.getCenter(true));
    paper.view.zoom = zoom;
    paper.view.center = new paper.Point(c.x, c.y);
  }
  function strokes() {
    const w = 2 / paper.view.zoom;
    for (const p of paths) p.strokeWidth = w;
  }
  viewer.addHandler('animation', sync);
  viewer.addHandler('resize', sync);
  viewer.addHandler('zoom', strokes);
  viewer.addHandler('open', async () => {
    goTo(viewer, ...vp0);
    sync();
    const [x0, y0, x1, y1] = vp0, mx = (x1 - x0) / 4, my = (y1 - y0) / 4;
    const anns = await fetchAnnotations(x0 - mx, y0 - my, x1 + mx, y1 + my);
    for (const a of anns) {
      const v = a.vector; if (!v) continue;
      let p;
      if (v.x3 === undefined) {
        p = new paper.Path.Rectangle(new paper.Point(v.x1, v.y1), new paper.Point(v.x2, v.y2));
      } else {
        p = new paper.Path();
        for (let k = 1; v['x' + k] !== undefined; k++) p.add(new paper.Point(v['x' + k], v['y' + k]));
        p.closed = true;
      }
      p.strokeColor = colors[a.annotation_type] || '#888';
      p.strokeWidth = 2 / paper.view.zoom;
      p.data.id = a.id;
      paths.push(p);
    }
    window.inView = anns.length;
    paper.view.update();
    await fullyLoaded(viewer);
    requestAnimationFrame(() => requestAnimationFrame(() => { window.exactViewerReady = true; }));
  });
</script></body></html>`;

// OpenLayers (issue 12 item 1: OpenSeadragon or OpenLayers?): the same slide through OL's
// Zoomify source (the native-grid DZI's tiles, whose edge tiles Zoomify pads as DZI needs), the
// same viewport fetch as the Paper.js page (view plus a quarter per side, one request), drawn
// by a WebGL vector layer or by the canvas vector layer (re-rendered while animating and
// interacting, as our overlay and Paper.js are). Image y runs down, OL's up: y is negated.
const olPage = (kind) => `<!doctype html><html><body style="margin:0;overflow:hidden">
<div id="v" style="position:absolute;inset:0"></div>
<script src="/__bench__/ol/ol.js"></script>
<script>${common}
  (async () => {
    const dzi = new DOMParser().parseFromString(await (await fetch('/api/v1/images/images/' + image + '/native.dzi')).text(), 'application/xml');
    const el = dzi.documentElement, sz = el.getElementsByTagName('Size')[0];
    const W = Number(sz.getAttribute('Width')), H = Number(sz.getAttribute('Height'));
    const T = Number(el.getAttribute('TileSize')), fmt = el.getAttribute('Format');
    const maxLevel = Math.ceil(Math.log2(Math.max(W, H)));
    // Zoomify's tiers are DZI's levels from the first that fits one tile: tier z is DZI level
    // maxLevel - (tiers - 1 - z). Each tile's URL is made from its coordinate when it loads.
    // The template only serves Zoomify's probe of the finest centre tile (its "retina" check),
    // which must find a tile: it names the finest DZI level.
    const source = new ol.source.Zoomify({ url: '/api/v1/images/images/' + image + '/native_files/' + maxLevel + '/{x}_{y}.' + fmt + '?g={TileGroup}', size: [W, H], tileSize: T });
    const tiers = source.getTileGrid().getResolutions().length;
    source.setTileLoadFunction((tile) => {
      const c = tile.getTileCoord();
      tile.getImage().src = '/api/v1/images/images/' + image + '/native_files/' + (maxLevel - (tiers - 1 - c[0])) + '/' + c[1] + '_' + c[2] + '.' + fmt;
    });
    const extent = [0, -H, W, 0];
    const layers = [new ol.layer.Tile({ source })];
    const [x0, y0, x1, y1] = vp0, mx = (x1 - x0) / 4, my = (y1 - y0) / 4;
    const anns = await fetchAnnotations(x0 - mx, y0 - my, x1 + mx, y1 + my);
    const byType = new Map();
    for (const a of anns) {
      const v = a.vector; if (!v) continue;
      let ring;
      if (v.x3 === undefined) ring = [[v.x1, -v.y1], [v.x2, -v.y1], [v.x2, -v.y2], [v.x1, -v.y2], [v.x1, -v.y1]];
      else { ring = []; for (let k = 1; v['x' + k] !== undefined; k++) ring.push([v['x' + k], -v['y' + k]]); ring.push(ring[0]); }
      const f = new ol.Feature(new ol.geom.Polygon([ring]));
      f.setId(a.id);
      if (!byType.has(a.annotation_type)) byType.set(a.annotation_type, []);
      byType.get(a.annotation_type).push(f);
    }
    for (const [t, feats] of byType) {
      const src = new ol.source.Vector({ features: feats });
      const color = colors[t] || '#888';
      layers.push(${kind === 'webgl'
        ? "new ol.layer.WebGLVector({ source: src, disableHitDetection: true, style: { 'stroke-color': color, 'stroke-width': 1.5 } })"
        : "new ol.layer.Vector({ source: src, updateWhileAnimating: true, updateWhileInteracting: true, style: new ol.style.Style({ stroke: new ol.style.Stroke({ color, width: 1.5 }) }) })"});
    }
    window.inView = anns.length;
    const map = new ol.Map({ target: 'v', layers, controls: [],
      view: new ol.View({ projection: new ol.proj.Projection({ code: 'slide', units: 'pixels', extent }),
        extent, constrainOnlyCenter: true, resolutions: source.getTileGrid().getResolutions().concat([0.5, 0.25]) }) });
    map.getView().fit([x0, -y1, x1, -y0], { size: map.getSize() });
    window.map = map;
    map.once('rendercomplete', () => requestAnimationFrame(() => requestAnimationFrame(() => { window.exactViewerReady = true; })));
  })().catch((e) => console.error(String(e && e.stack || e)));
</script></body></html>`;

// Stand-in for our viewer until the UI exists: OpenSeadragon over native.dzi, our overview
// tiles (annotation_tiles.dzi) as a second layer at low zoom, and at high zoom one canvas
// redrawn per frame from typed arrays (one path per type, no object per annotation).
const stubPage = `<!doctype html><html><body style="margin:0;overflow:hidden">
<div id="v" style="position:absolute;inset:0"></div>
<canvas id="c" style="position:absolute;inset:0;pointer-events:none"></canvas>
<script src="/__bench__/osd/openseadragon.min.js"></script>
<script>${common}
  const DIRECT = 30000;   // more in view than this: overview tiles only
  const viewer = OpenSeadragon({ id: 'v', prefixUrl: '/__bench__/osd/images/', showNavigationControl: false, drawer: 'canvas',
    tileSources: ['/api/v1/images/images/' + image + '/native.dzi',
                  { tileSource: '/api/v1/images/images/' + image + '/annotation_tiles.dzi', opacity: 0 }] });
  window.viewer = viewer;
  const canvas = document.getElementById('c');
  const ctx = canvas.getContext('2d');
  let byType = new Map();   // type -> { boxes: Float32Array, polys: Float32Array, starts: Uint32Array }
  let overview = true;
  function draw() {
    const dpr = devicePixelRatio || 1;
    if (canvas.width !== innerWidth * dpr) { canvas.width = innerWidth * dpr; canvas.height = innerHeight * dpr;
      canvas.style.width = innerWidth + 'px'; canvas.style.height = innerHeight + 'px'; }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const item = viewer.world.getItemAt(0);
    if (!item || overview) return;
    const zoom = item.viewportToImageZoom(viewer.viewport.getZoom(true)) * dpr;
    const tl = item.viewportToImageCoordinates(viewer.viewport.pointFromPixel(new OpenSeadragon.Point(0, 0), true));
    const ox = tl.x, oy = tl.y, W = canvas.width, H = canvas.height;
    // Screen coordinates computed here (a canvas transform makes every stroke slower).
    ctx.lineWidth = 1.5 * dpr;
    for (const [t, d] of byType) {
      ctx.strokeStyle = colors[t] || '#888';
      ctx.beginPath();
      let n = 0;
      const b = d.boxes;
      for (let i = 0; i < b.length; i += 4) {
        const x0 = (b[i] - ox) * zoom, y0 = (b[i + 1] - oy) * zoom;
        const x1 = (b[i + 2] - ox) * zoom, y1 = (b[i + 3] - oy) * zoom;
        if (x1 < 0 || y1 < 0 || x0 > W || y0 > H) continue;
        ctx.rect(x0, y0, x1 - x0, y1 - y0);
        // Software rasterisers stroke many small paths faster than one huge one.
        if (++n % 256 === 0) { ctx.stroke(); ctx.beginPath(); }
      }
      const p = d.polys, s = d.starts, bb = d.pbox;
      for (let j = 0; j + 1 < s.length; j++) {
        if ((bb[4 * j + 2] - ox) * zoom < 0 || (bb[4 * j + 3] - oy) * zoom < 0
            || (bb[4 * j] - ox) * zoom > W || (bb[4 * j + 1] - oy) * zoom > H) continue;
        ctx.moveTo((p[s[j]] - ox) * zoom, (p[s[j] + 1] - oy) * zoom);
        for (let i = s[j] + 2; i < s[j + 1]; i += 2) ctx.lineTo((p[i] - ox) * zoom, (p[i + 1] - oy) * zoom);
        ctx.closePath();
        if (++n % 256 === 0) { ctx.stroke(); ctx.beginPath(); }
      }
      ctx.strokeStyle = colors[t] || '#888';
      ctx.stroke();
    }
  }
  viewer.addHandler('update-viewport', draw);
  viewer.addHandler('open', async () => {
    goTo(viewer, ...vp0);
    const [x0, y0, x1, y1] = vp0, mx = (x1 - x0) / 4, my = (y1 - y0) / 4;
    const full = (x1 - x0) * (y1 - y0) >= 0.5 * ${seed.size} ** 2;
    if (!full) {
      const anns = await fetchAnnotations(x0 - mx, y0 - my, x1 + mx, y1 + my);
      window.inView = anns.length;
      overview = anns.length > DIRECT;
      const tmp = new Map();
      for (const a of anns) {
        const v = a.vector; if (!v) continue;
        let d = tmp.get(a.annotation_type);
        if (!d) { d = { boxes: [], polys: [], starts: [0], pbox: [] }; tmp.set(a.annotation_type, d); }
        if (v.x3 === undefined) d.boxes.push(v.x1, v.y1, v.x2, v.y2);
        else {
          let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
          for (let k = 1; v['x' + k] !== undefined; k++) {
            const x = v['x' + k], y = v['y' + k];
            d.polys.push(x, y);
            x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
          }
          d.starts.push(d.polys.length);
          d.pbox.push(x0, y0, x1, y1);
        }
      }
      for (const [t, d] of tmp) byType.set(t, { boxes: Float32Array.from(d.boxes), polys: Float32Array.from(d.polys),
        starts: Uint32Array.from(d.starts), pbox: Float32Array.from(d.pbox) });
    } else {
      window.inView = ${seed.n};
    }
    viewer.world.getItemAt(1).setOpacity(overview ? 1 : 0);
    draw();
    await fullyLoaded(viewer);
    requestAnimationFrame(() => requestAnimationFrame(() => { window.exactViewerReady = true; }));
  });
</script></body></html>`;

function serveBenchFiles(context) {
  return context.route(`${base}/__bench__/**`, (route) => {
    const rel = new URL(route.request().url()).pathname.replace('/__bench__/', '');
    if (rel === 'paper.html') return route.fulfill({ status: 200, contentType: 'text/html', body: paperPage });
    if (rel === 'stub.html') return route.fulfill({ status: 200, contentType: 'text/html', body: stubPage });
    if (rel === 'ol-webgl.html') return route.fulfill({ status: 200, contentType: 'text/html', body: olPage('webgl') });
    if (rel === 'ol-canvas.html') return route.fulfill({ status: 200, contentType: 'text/html', body: olPage('canvas') });
    const file = rel.startsWith('osd/')
      ? path.join(mods, 'openseadragon', 'build', 'openseadragon', rel.slice(4))
      : rel.startsWith('paper/') ? path.join(mods, 'paper', 'dist', rel.slice(6))
      : rel === 'ol/ol.js' ? path.join(mods, 'ol', 'dist', 'ol.js') : null;
    if (!file || !fs.existsSync(file)) return route.fulfill({ status: 404, body: 'missing' });
    return route.fulfill({ status: 200, body: fs.readFileSync(file),
      contentType: file.endsWith('.js') ? 'text/javascript' : 'image/png' });
  });
}

// ---- measuring ----

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const p95 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.floor(s.length * 0.95)] : NaN; };

// BENCH_ONLY=ours,paper,ol (the default: all) runs a part, e.g. while working on one page.
const ONLY = new Set((process.env.BENCH_ONLY || 'ours,paper,ol').split(','));
const TIMEOUT = Number(process.env.BENCH_TIMEOUT_MS || 120000);
const problems = new Map();  // page -> console errors, page errors and failed requests
function watch(page) {
  const list = [];
  problems.set(page, list);
  page.on('pageerror', (e) => list.push('pageerror: ' + String(e)));
  page.on('console', (m) => { if (m.type() === 'error') list.push('console: ' + m.text()); });
  page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) list.push(`HTTP ${r.status()} ${r.url()}`); });
  page.on('requestfailed', (r) => list.push(`failed ${r.url()}: ${r.failure()?.errorText}`));
  page.on('crash', () => console.error('the page crashed: ' + page.url()));
  if (process.env.BENCH_DEBUG) {
    page.on('console', (m) => console.error('[page]', m.text()));
    const pending = new Set();
    page.on('request', (r) => pending.add(r.url()));
    page.on('requestfinished', (r) => pending.delete(r.url()));
    page.on('requestfailed', (r) => pending.delete(r.url()));
    page.pending = pending;
  }
  return list;
}

async function openScene(page, url) {
  const t0 = Date.now();
  await page.goto(url, { timeout: TIMEOUT });
  try {
    await page.waitForFunction(() => window.exactViewerReady === true, null, { timeout: TIMEOUT });
  } catch (e) {
    if (process.env.BENCH_DEBUG) console.error(await page.evaluate(() => JSON.stringify([document.visibilityState,
      window.viewer && [0, 1].map((i) => window.viewer.world.getItemAt(i)?.getFullyLoaded()), window.viewer?.imageLoader.jobsInProgress])), [...(page.pending || [])]);
    throw new Error(`${url} never became ready: ${JSON.stringify((problems.get(page) || []).slice(0, 10))}`);
  }
  return Date.now() - t0;
}

// Pans by dragging and zooms with the wheel, recording requestAnimationFrame intervals.
async function frames(page) {
  if (process.env.BENCH_DEBUG) console.error(new Date().toISOString(), 'frames on', page.url());
  await page.evaluate(() => {
    window.__frames = []; window.__work = []; window.__on = true;
    let last = performance.now();
    // Frame work: from the frame's start (the rAF timestamp, shared by every callback of the
    // frame) to a message posted from its rAF callbacks, which runs once the frame's input,
    // callbacks, style, layout and paint are done. Headless chromium caps frames at 60 Hz
    // (--disable-frame-rate-limit has no effect there), so intervals bottom out at 16.7 ms
    // whatever the page does; this is what a frame costs the main thread below that cap.
    const ch = new MessageChannel();
    let start = null;
    ch.port1.onmessage = () => { if (start !== null) window.__work.push(performance.now() - start); start = null; };
    const tick = (t) => {
      window.__frames.push(t - last); last = t;
      if (start === null) { start = t; ch.port2.postMessage(0); }
      if (window.__on) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  const cx = WIN.width / 2, cy = WIN.height / 2;
  await page.mouse.move(cx, cy);
  // A page that needs seconds per frame (WebGL in a software renderer) gets a time budget
  // instead of the full gesture: its median is then measured over fewer frames.
  const until = Date.now() + Number(process.env.BENCH_GESTURE_MS || 20000);
  await page.mouse.down();
  for (let i = 1; i <= 40 && Date.now() < until; i++) await page.mouse.move(cx + i * 6, cy + i * 2);
  for (let i = 39; i >= 0 && Date.now() < until; i--) await page.mouse.move(cx + i * 6, cy + i * 2);
  await page.mouse.up();
  for (const dy of [-120, -120, 120, 120]) {
    if (Date.now() > until) break;
    await page.mouse.wheel(0, dy);
    await page.waitForTimeout(250);
  }
  const [fs_, work] = await page.evaluate(() => { window.__on = false; return [window.__frames.slice(1), window.__work.slice(1)]; });
  // The median hides a page that renders rarely but slowly (idle frames tick at 16.7 ms):
  // the mean over the gesture and the p95 show it.
  const mean = fs_.length ? fs_.reduce((a, b) => a + b, 0) / fs_.length : NaN;
  return { median: median(fs_), mean, p95: p95(fs_), n: fs_.length, work: median(work), workP95: p95(work) };
}

async function saveOne(page, headers) {
  return page.evaluate(async ({ image, type, size, headers }) => {
    const csrf = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1];
    const h = { 'Content-Type': 'application/json', ...headers };
    if (csrf) h['X-CSRFToken'] = csrf;
    const times = [];
    for (let i = 0; i < 10; i++) {
      const x = size / 2 + i * 100;
      const t0 = performance.now();
      const r = await fetch('/api/v1/annotations/annotations/', { method: 'POST', headers: h,
        body: JSON.stringify({ annotation_type: type, image, vector: { x1: x, y1: x, x2: x + 30, y2: x + 20 } }) });
      await r.json();
      if (!r.ok) throw new Error('save: ' + r.status);
      times.push(performance.now() - t0);
    }
    // The server's share of each POST, from its Server-Timing header.
    const server = performance.getEntriesByType('resource')
      .filter((e) => e.initiatorType === 'fetch' && new URL(e.name).pathname === '/api/v1/annotations/annotations/')
      .slice(-10).map((e) => e.serverTiming?.[0]?.duration ?? NaN);
    const mid = (xs) => [...xs].sort((a, b) => a - b)[5];
    return { total: mid(times), server: mid(server), all: times.map((t) => +t.toFixed(1)), serverAll: server };
  }, { image: seed.image, type: seed.types[0], size: seed.size, headers });
}

// The viewer's own save path at high zoom: draw mode, the first type, ten boxes dragged with the
// mouse; each timed by the viewer's `exact:save` measure (gesture end → POST → response → the
// frame that draws it), beside the POST's own time and the server's share (resource timing).
async function saveInViewer(page, url) {
  await openScene(page, url);
  await page.keyboard.press('c');
  await page.keyboard.press('1');
  // The open's tiles fill the resource timing buffer (250 entries): the POSTs must fit in it.
  await page.evaluate(() => performance.clearResourceTimings());
  for (let i = 0; i < 10; i++) {
    const n = await page.evaluate(() => performance.getEntriesByName('exact:save').length);
    const x = 200 + i * 80, y = 200 + (i % 3) * 120;
    await page.mouse.move(x, y);
    await page.mouse.down();
    await page.mouse.move(x + 30, y + 20, { steps: 3 });
    await page.mouse.move(x + 50, y + 40, { steps: 3 });
    await page.mouse.up();
    await page.waitForFunction((n) => performance.getEntriesByName('exact:save').length > n, n, { timeout: i ? TIMEOUT : 20000 });
  }
  return page.evaluate(() => {
    const mid = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const saves = performance.getEntriesByName('exact:save').map((m) => m.duration);
    const posts = performance.getEntriesByType('resource')
      .filter((e) => e.initiatorType === 'fetch' && new URL(e.name).pathname === '/api/v1/annotations/annotations/').slice(-10);
    return { drawn: mid(saves), post: mid(posts.map((e) => e.duration)), server: mid(posts.map((e) => e.serverTiming?.[0]?.duration ?? NaN)),
      all: saves.map((t) => +t.toFixed(1)) };
  });
}

// Where an open's time goes: the page's own marks (`performance.mark` in the viewer) and its
// requests (resource timing), in ms from navigation start, as a compact waterfall. Tiles are
// summarised per kind (count, first start, last end).
async function waterfall(page) {
  return page.evaluate(() => {
    const out = [];
    const nav = performance.getEntriesByType('navigation')[0];
    if (nav) out.push(['document', 0, nav.responseEnd], ['DOMContentLoaded', nav.domContentLoadedEventEnd, nav.domContentLoadedEventEnd]);
    for (const m of performance.getEntriesByType('mark')) out.push(['mark ' + m.name, m.startTime, m.startTime]);
    const groups = new Map();
    for (const r of performance.getEntriesByType('resource')) {
      const u = new URL(r.name);
      let key = u.pathname.replace(/\/api\/v1\/images\/images\/\d+\//, '…/') + (u.pathname.includes('/annotations/') ? u.search.slice(0, 60) : '');
      const tile = u.pathname.match(/(native|annotation_tiles)_files\//);
      if (tile) key = tile[1] + ' tiles';
      if (/\.png$/.test(u.pathname) && u.pathname.includes('/static/')) key = 'osd images';
      const g = groups.get(key) || { n: 0, start: Infinity, end: 0 };
      g.n++; g.start = Math.min(g.start, r.startTime); g.end = Math.max(g.end, r.responseEnd);
      groups.set(key, g);
    }
    for (const [k, g] of groups) out.push([g.n > 1 ? `${k} (${g.n})` : k, g.start, g.end]);
    out.sort((a, b) => a[1] - b[1]);
    return out.map(([k, a, b]) => `${a.toFixed(0).padStart(6)} → ${b.toFixed(0).padStart(6)}  ${k}`).join('\n');
  });
}

// ---- run ----

const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-ui-'));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
  args: ['--no-sandbox'] });
const results = { ours: { errors: [] }, baseline: { errors: [] }, mode: null };
try {
  if (ONLY.has('ours')) {
  // Our viewer: the real UI if the server serves it, else the stub.
  const ours = await browser.newContext({ viewport: WIN });
  await serveBenchFiles(ours);
  // BENCH_BUNDLE=app.js runs another build of the UI (e.g. main's, from `git show`) against
  // the same server: a before/after of a client change without a second server build.
  if (process.env.BENCH_BUNDLE) {
    const js = fs.readFileSync(process.env.BENCH_BUNDLE);
    await ours.route(/\/static\/app-[A-Z0-9]+\.js$/, (route) => route.fulfill({ status: 200, contentType: 'text/javascript', body: js }));
    results.bundle = process.env.BENCH_BUNDLE;
  }
  const page = await ours.newPage();
  const errors = watch(page);
  const login = await page.goto(`${base}/user/login/`);
  let uiUrl = null;
  if (login && login.ok() && (await page.$('input[name=username]'))) {
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', password);
    await Promise.all([page.waitForNavigation(), page.press('input[name=password]', 'Enter')]);
    uiUrl = (vp) => `${base}/annotations/${seed.image}/?xmin=${vp.xmin}&ymin=${vp.ymin}&xmax=${vp.xmax}&ymax=${vp.ymax}`;
    results.mode = 'ui';
    try {
      results.ours.open = await openScene(page, `${base}/annotations/${seed.image}/`);
    } catch (e) {
      console.error(`the UI never set window.exactViewerReady (${e.message.split('\n')[0]}); using the stub`);
      uiUrl = null;
    }
  }
  let saveHeaders = {};
  if (!uiUrl) {
    results.mode = 'stub';
    await ours.setExtraHTTPHeaders({ Authorization: basic });
    saveHeaders = {};
    uiUrl = (vp) => `${base}/__bench__/stub.html?xmin=${vp.xmin}&ymin=${vp.ymin}&xmax=${vp.xmax}&ymax=${vp.ymax}`;
    const whole = scenes[2].vp;
    results.ours.open = await openScene(page, uiUrl(whole));
  }
  if (results.mode === 'ui') results.ours.openWaterfall = await waterfall(page);
  for (const s of scenes) {
    const load = await openScene(page, uiUrl(s.vp));
    const inView = await page.evaluate(() => window.inView ?? null);
    results.ours[s.name] = { load, inView, ...(await frames(page)) };
  }
  // Warm opens of the whole slide (the server has built what the first open needed). Note:
  // playwright's routing (the bench pages, BENCH_BUNDLE) disables the browser's HTTP cache, so
  // these are opens of a warm server by a browser without cached tiles; a real reopen, with
  // the cache, is faster (see the report of issue 12's viewer2 run).
  const opens = [];
  for (let i = 0; i < Number(process.env.BENCH_OPENS || 5); i++) opens.push(await openScene(page, uiUrl(scenes[2].vp)));
  results.ours.warmOpens = opens;
  results.ours.warmOpen = median(opens);
  if (results.mode === 'ui') results.ours.warmWaterfall = await waterfall(page);
  results.ours.save = await saveOne(page, saveHeaders);
  // A bundle without the `exact:save` measure (BENCH_BUNDLE of an older build) skips this part.
  if (results.mode === 'ui') results.ours.uiSave = await saveInViewer(page, uiUrl(scenes[0].vp)).catch((e) => ({ error: e.message.split('\n')[0] }));
  results.ours.errors = errors;
  }

  // The baseline: EXACT's Paper.js overlay, same scenes, same run.
  if (ONLY.has('paper')) {
  const exact = await browser.newContext({ viewport: WIN, extraHTTPHeaders: { Authorization: basic } });
  await serveBenchFiles(exact);
  const bpage = await exact.newPage();
  const berrors = watch(bpage);
  for (const s of scenes.filter((s) => s.baseline)) {
    const url = `${base}/__bench__/paper.html?xmin=${s.vp.xmin}&ymin=${s.vp.ymin}&xmax=${s.vp.xmax}&ymax=${s.vp.ymax}`;
    const load = await openScene(bpage, url);
    const inView = await bpage.evaluate(() => window.inView ?? null);
    results.baseline[s.name] = { load, inView, ...(await frames(bpage)) };
  }
  results.baseline.errors = berrors;
  }

  // OpenLayers on the same scenes, same run: WebGL vector layer and canvas vector layer.
  for (const kind of ONLY.has('ol') ? (process.env.BENCH_OL || 'webgl,canvas').split(',') : []) {
    const olc = await browser.newContext({ viewport: WIN, extraHTTPHeaders: { Authorization: basic } });
    await serveBenchFiles(olc);
    const opage = await olc.newPage();
    const oerrors = watch(opage);
    const r = (results['ol-' + kind] = {});
    for (const s of scenes.filter((s) => s.baseline)) {
      const url = `${base}/__bench__/ol-${kind}.html?xmin=${s.vp.xmin}&ymin=${s.vp.ymin}&xmax=${s.vp.xmax}&ymax=${s.vp.ymax}`;
      const load = await openScene(opage, url);
      const inView = await opage.evaluate(() => window.inView ?? null);
      r[s.name] = { load, inView, ...(await frames(opage)) };
    }
    r.errors = oerrors;
    await olc.close();
  }
} finally {
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
}

const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
console.log(`\nUI benchmark: image ${seed.image}, ${seed.n.toLocaleString('en')} annotations on ${seed.size} x ${seed.size} px, window ${WIN.width}x${WIN.height}`);
console.log(`ours = ${results.mode === 'ui' ? 'the UI at /annotations/<id>/' : 'STUB page (the UI is not served yet): OpenSeadragon + overview tiles + one canvas'}${results.bundle ? ` with the bundle ${results.bundle}` : ''}`);
console.log(`baseline = EXACT's way: Paper.js ${'0.12'} overlay on OpenSeadragon, one path per annotation\n`);
console.log(`navigation -> interactive, complete view (whole slide): first ${results.ours.open} ms, warm server (no browser cache: routing disables it) median ${results.ours.warmOpen} ms of ${JSON.stringify(results.ours.warmOpens)} (goal <= 2000)`);
console.log(`save one annotation among them (median of 10, from the page): ${f(results.ours.save?.total)} ms, of which the server ${f(results.ours.save?.server)} ms (goal <= 100)`);
if (results.ours.uiSave?.error) console.log(`save in the viewer: not measured (${results.ours.uiSave.error})`);
else if (results.ours.uiSave) console.log(`save in the viewer (draw a box at high zoom, median of 10): drawn ${f(results.ours.uiSave.drawn)} ms after the gesture; its POST ${f(results.ours.uiSave.post)} ms, of which the server ${f(results.ours.uiSave.server)} ms`);
console.log('');
console.log('scene                         | loaded (view+margin) | load ms (ours/base) | median frame ms ours | baseline | ratio | p95 ours/base');
for (const s of scenes) {
  const o = results.ours[s.name] || {}, b = results.baseline[s.name];
  const ratio = b && o ? b.median / o.median : NaN;
  console.log(`${s.name.padEnd(30)}| ${String(o.inView).padStart(8)} / ${String(b?.inView ?? '-').padEnd(8)} | ${String(o.load).padStart(8)} / ${String(b?.load ?? '-').padEnd(8)} | ${f(o.median).padStart(20)} | ${f(b?.median).padStart(8)} | ${b ? f(ratio) + 'x' : '  -  '} | ${f(o.p95)} / ${f(b?.p95)}`);
}
console.log('\nframe work below the 60 Hz cap (frame start -> input, rAF callbacks, style, layout and paint done), median / p95 ms');
console.log('scene                         | ours            | baseline (Paper.js) | ratio (median)');
for (const s of scenes) {
  const o = results.ours[s.name] || {}, b = results.baseline[s.name];
  console.log(`${s.name.padEnd(30)}| ${`${f(o.work)} / ${f(o.workP95)}`.padEnd(16)}| ${(b ? `${f(b.work)} / ${f(b.workP95)}` : '-').padEnd(20)}| ${b ? f(b.work / o.work) + 'x' : '-'}`);
}
console.log('\nOpenSeadragon (ours) vs OpenLayers 10 vs Paper.js, same scenes and viewport fetch: frame ms median / mean / p95, load ms');
console.log('scene                         | ours (OSD + canvas)       | OL WebGL vector           | OL canvas vector          | Paper.js (EXACT)');
for (const s of scenes.filter((s) => s.baseline)) {
  const cell = (r) => (r ? `${f(r.median)}/${f(r.mean)}/${f(r.p95)}, ${r.load}`.padEnd(26) : '-'.padEnd(26));
  console.log(`${s.name.padEnd(30)}| ${cell(results.ours[s.name])}| ${cell(results['ol-webgl']?.[s.name])}| ${cell(results['ol-canvas']?.[s.name])}| ${cell(results.baseline[s.name])}`);
}
if (results.ours.openWaterfall) console.log('\nfirst open (whole slide), ms from navigation start:\n' + results.ours.openWaterfall);
if (results.ours.warmWaterfall) console.log('\nlast warm open (whole slide):\n' + results.ours.warmWaterfall);
const errs = { ours: results.ours.errors, baseline: results.baseline.errors, olWebgl: results['ol-webgl']?.errors, olCanvas: results['ol-canvas']?.errors };
if (Object.values(errs).some((e) => e && e.length)) console.log('\npage errors:', JSON.stringify(errs));
console.log('\n' + JSON.stringify(results));
