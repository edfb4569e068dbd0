// `/annotations/<annotation_id>/verify/`: steps through the set's annotations of a type (all
// or only those the user has not judged), showing a crop around each. d/s next/previous,
// j accept, k reject, e edit (the viewer at the annotation); the next crops are preloaded.
// The "model proposals" mode (`?mode=proposals`, the default when the page opens on a proposal)
// steps through the set's or image's unreviewed computer-generated proposals lowest score
// first (the review queue), showing score and model; j/k accept or reject the one shown
// through the review endpoints (accepting makes it a normal annotation, keeping its history).

import { ApiError, api } from '../api/client';
import type { Annotation, AnnotationType, Id, Image, SlideInformation } from '../api/types';
import { VectorType } from '../api/types';
import { type BBox, bboxOf, fromJson } from '../viewer/geometry';
import { addPath, isClosed } from '../viewer/overlay';
import { byId, h, pageId, toast, typing } from './dom';

/** Longest side of a crop in screen pixels. */
const CROP = 512;
const PRELOAD = 3;

interface Crop {
  url: string;
  region: BBox;
  ds: number;
}

export async function verifyPage(): Promise<void> {
  const me = await api.me();
  const start = await api.annotation(pageId());
  const image = await api.image(start.image);
  const set = await api.imageSet(image.image_set);
  const images = (await api.images(set.id)).results;
  const byImage = new Map<Id, Image>(images.map((i) => [i.id, i]));
  const types = (await Promise.all(set.product_set.map((p) => api.types(p)))).flatMap((p) => p.results).filter((t) => t.vector_type !== VectorType.Global);
  const typeById = new Map<Id, AnnotationType>(types.map((t) => [t.id, t]));
  const infos = new Map<Id, Promise<SlideInformation>>();
  const info = (id: Id) => {
    let p = infos.get(id);
    if (!p) infos.set(id, (p = api.slideInfo(id)));
    return p;
  };

  const typeSel = h('select', { id: 'verify-type' }, ...types.map((t) => h('option', { value: t.id, text: t.name, selected: t.id === start.annotation_type })));
  const unverified = h('input', { type: 'checkbox', id: 'verify-unverified' });
  const asked = new URLSearchParams(location.search).get('mode');
  const startsOnProposal = start.meta_data?.generated === true;
  const modeSel = h(
    'select',
    { id: 'verify-mode' },
    h('option', { value: 'annotations', text: 'annotations' }),
    h('option', { value: 'proposals', text: 'model proposals, least certain first', selected: asked === 'proposals' || (asked === null && startsOnProposal) }),
  );
  const scopeSel = h('select', { id: 'verify-scope' }, h('option', { value: 'set', text: 'whole set' }), h('option', { value: 'image', text: `this image (${image.name})` }));
  const unverifiedLabel = h('label', {}, unverified, ' unverified only');
  const scopeLabel = h('label', {}, 'Scope ', scopeSel);
  const status = h('p', { id: 'verify-status', role: 'status' });
  const canvas = h('canvas', { id: 'verify-crop', width: CROP, height: CROP });
  const verdict = h('p', { id: 'verify-verdict' });
  byId('app').replaceChildren(
    h(
      'main',
      { class: 'verify' },
      h('header', { class: 'top' }, h('a', { href: '/', class: 'brand', text: 'EXACT' }), h('span', { text: `Verify · ${set.name}` }), h('span', { class: 'grow' }), h('span', { text: me.username })),
      h('div', { class: 'verify-filters' }, h('label', {}, 'Show ', modeSel), h('label', {}, 'Type ', typeSel), unverifiedLabel, scopeLabel),
      status,
      canvas,
      verdict,
      h('p', { class: 'muted', text: 'd next · s previous · j accept · k reject · e edit in the viewer' }),
    ),
  );

  const proposals = () => modeSel.value === 'proposals';
  let queue: Annotation[] = [];
  let pos = 0;
  const mine = new Map<Id, boolean>();
  const crops = new Map<Id, Promise<HTMLImageElement>>();

  async function cropOf(a: Annotation): Promise<Crop | null> {
    const c = fromJson(a.vector);
    const img = byImage.get(a.image);
    if (!c || !img) return null;
    const b = bboxOf(c);
    const side = Math.max(b.maxX - b.minX, b.maxY - b.minY, 32) * 2;
    const cx = (b.minX + b.maxX) / 2;
    const cy = (b.minY + b.maxY) / 2;
    const x0 = Math.max(0, Math.floor(cx - side / 2));
    const y0 = Math.max(0, Math.floor(cy - side / 2));
    const x1 = Math.min(img.width, Math.ceil(cx + side / 2));
    const y1 = Math.min(img.height, Math.ceil(cy + side / 2));
    const si = await info(img.id);
    // The finest level at which the crop still fits CROP pixels.
    let level = 0;
    for (let l = 0; l < si.level_downsamples.length; l++) {
      if (Math.max(x1 - x0, y1 - y0) / si.level_downsamples[l] <= CROP) {
        level = l;
        break;
      }
      level = l;
    }
    const ds = si.level_downsamples[level];
    const w = Math.max(1, Math.min(2048, Math.round((x1 - x0) / ds)));
    const hh = Math.max(1, Math.min(2048, Math.round((y1 - y0) / ds)));
    return { url: `/api/v1/images/images/${img.id}/get_patch/?x=${x0}&y=${y0}&level=${level}&width=${w}&height=${hh}`, region: { minX: x0, minY: y0, maxX: x1, maxY: y1 }, ds };
  }

  function load(a: Annotation, crop: Crop): Promise<HTMLImageElement> {
    let p = crops.get(a.id);
    if (!p) {
      p = new Promise((resolve, reject) => {
        const el = new Image();
        el.onload = () => resolve(el);
        el.onerror = () => reject(new Error('crop failed to load'));
        el.src = crop.url;
      });
      crops.set(a.id, p);
    }
    return p;
  }

  async function show(): Promise<void> {
    const a = queue[pos];
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!a) {
      status.textContent = proposals() ? 'No unreviewed model proposals with these filters.' : 'No annotations to verify with these filters.';
      verdict.textContent = '';
      return;
    }
    const t = typeById.get(a.annotation_type);
    status.textContent = `${pos + 1} / ${queue.length} · #${a.id} ${t?.name ?? ''} · ${byImage.get(a.image)?.name ?? ''}`;
    if (proposals()) {
      const m = a.meta_data ?? {};
      const score = typeof m.score === 'number' ? m.score.toFixed(4) : 'none';
      status.textContent += ` · score ${score} · model ${String(m.model ?? '?')} ${String(m.version ?? '')}`.trimEnd();
      verdict.textContent = 'Proposal: j accepts it as an annotation, k rejects it';
    } else {
      const v = mine.get(a.id);
      verdict.textContent = v === undefined ? 'Your verdict: none' : v ? 'Your verdict: accepted' : 'Your verdict: rejected';
    }
    document.body.dataset.current = String(a.id);
    const crop = await cropOf(a);
    if (!crop || !t) return;
    const el = await load(a, crop);
    if (queue[pos] !== a) return;
    const k = Math.min(CROP / el.width, CROP / el.height);
    canvas.width = Math.round(el.width * k);
    canvas.height = Math.round(el.height * k);
    ctx.drawImage(el, 0, 0, canvas.width, canvas.height);
    const s = k / crop.ds;
    ctx.setTransform(s, 0, 0, s, -crop.region.minX * s, -crop.region.minY * s);
    ctx.lineWidth = 2 / s;
    ctx.strokeStyle = t.color_code;
    ctx.beginPath();
    const c = fromJson(a.vector);
    if (c) addPath(ctx, t.vector_type, c, isClosed(t));
    ctx.stroke();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    // Preload the next crops while the user looks at this one.
    for (const next of queue.slice(pos + 1, pos + 1 + PRELOAD)) {
      void cropOf(next).then((cr) => cr && load(next, cr).catch(() => undefined));
    }
  }

  async function rebuild(keep: Id | null): Promise<void> {
    const type = Number(typeSel.value);
    unverifiedLabel.hidden = proposals();
    scopeLabel.hidden = !proposals();
    if (proposals()) {
      // The server's order: lowest score first, then by id.
      const scope = scopeSel.value === 'image' ? { image: image.id } : { image_set: set.id };
      const page = await api.proposals({ ...scope, annotation_type: type, limit: 100000 });
      queue = page.results.filter((a) => a.vector !== null);
      pos = Math.max(0, queue.findIndex((a) => a.id === keep));
      await show();
      return;
    }
    const ids = images.map((i) => i.id).join(',');
    const [anns, ver] = await Promise.all([
      api.annotations({ image__in: ids, annotation_type: type, deleted: false, limit: 100000 }),
      Promise.all(images.map((i) => api.verifications({ image: i.id, limit: 100000 }))),
    ]);
    mine.clear();
    for (const page of ver) for (const v of page.results) if (v.user === me.id) mine.set(v.annotation, v.verified);
    queue = anns.results.filter((a) => a.vector !== null && (!unverified.checked || !mine.has(a.id) || a.id === keep));
    queue.sort((a, b) => a.image - b.image || a.id - b.id);
    pos = Math.max(0, queue.findIndex((a) => a.id === keep));
    await show();
  }

  async function judge(ok: boolean): Promise<void> {
    const a = queue[pos];
    if (!a) return;
    if (proposals()) {
      try {
        await api.review(ok, [a.id]);
        toast(`#${a.id} ${ok ? 'accepted: now a normal annotation' : 'rejected'}`);
        // Reviewed: it leaves the queue; the next one takes its place.
        queue.splice(pos, 1);
        if (pos >= queue.length) pos = Math.max(0, queue.length - 1);
        await show();
      } catch (e) {
        toast(`Review not saved: ${e instanceof ApiError ? e.detail : String(e)}`, 'error', 8000);
      }
      return;
    }
    try {
      await api.verify(a.id, ok);
      mine.set(a.id, ok);
      toast(`#${a.id} ${ok ? 'accepted' : 'rejected'}`);
      if (pos < queue.length - 1) pos++;
      await show();
    } catch (e) {
      toast(`Verdict not saved: ${e instanceof ApiError ? e.detail : String(e)}`, 'error', 8000);
    }
  }

  typeSel.addEventListener('change', () => void rebuild(null));
  modeSel.addEventListener('change', () => void rebuild(queue[pos]?.id ?? null));
  scopeSel.addEventListener('change', () => void rebuild(queue[pos]?.id ?? null));
  unverified.addEventListener('change', () => void rebuild(queue[pos]?.id ?? null));
  document.addEventListener('keydown', (e) => {
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    const a = queue[pos];
    switch (e.key) {
      case 'd':
        if (pos < queue.length - 1) pos++;
        void show();
        break;
      case 's':
        if (pos > 0) pos--;
        void show();
        break;
      case 'j':
        void judge(true);
        break;
      case 'k':
        void judge(false);
        break;
      case 'e':
        if (a) {
          const c = fromJson(a.vector);
          const b = c ? bboxOf(c) : null;
          const pad = b ? Math.max(b.maxX - b.minX, b.maxY - b.minY, 50) * 2 : 0;
          location.assign(b ? `/annotations/${a.image}/?xmin=${Math.round(b.minX - pad)}&ymin=${Math.round(b.minY - pad)}&xmax=${Math.round(b.maxX + pad)}&ymax=${Math.round(b.maxY + pad)}` : `/annotations/${a.image}/`);
        }
        break;
      default:
        return;
    }
    e.preventDefault();
  });
  // The review queue starts at its head (the least certain proposal).
  await rebuild(proposals() ? null : start.id);
  document.body.dataset.ready = '1';
}
