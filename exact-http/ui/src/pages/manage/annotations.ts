// `/annotations/manage/annotation/<set_id>/`: a set's annotations listed and filtered (type,
// creator, date range, verification state, live or in the trash), as a table or a gallery of
// crops; bulk delete (to the trash), bulk relabel and restore, each one atomic call (all or none).

import { request } from '../../api/client';
import type { Annotation, AnnotationType, Id, Image, Page, Verification } from '../../api/types';
import { h, pageId } from '../dom';
import { A, type FullUser, type SetFull, action, all, field, frame, select } from './common';

const PAGE = 200;

function bbox(a: Annotation): [number, number, number, number] | null {
  const v = a.vector;
  if (!v) return null;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const [k, n] of Object.entries(v)) {
    if (/^x\d+$/.test(k)) xs.push(n);
    else if (/^y\d+$/.test(k)) ys.push(n);
  }
  if (!xs.length || !ys.length) return null;
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
}

export async function manageAnnotationsPage(): Promise<void> {
  const id = pageId();
  const set = await request<SetFull>('GET', `${A}/images/image_sets/${id}/`);
  const { main } = await frame(`Annotations of ${set.name}`, [
    ['Image sets', '/images/'],
    [set.name, `/images/imageset/${id}/`],
  ]);
  const [images, users] = await Promise.all([
    request<Page<Image>>('GET', `${A}/images/images/?image_set=${id}&omit=annotations&limit=10000`).then((p) => p.results),
    all<FullUser>(`${A}/users/users/`),
  ]);
  const types: AnnotationType[] = [];
  for (const p of set.product_set) types.push(...(await all<AnnotationType>(`${A}/annotations/annotation_types/?product=${p}`)));
  const typeById = new Map(types.map((t) => [t.id, t]));
  const imageById = new Map(images.map((i) => [i.id, i]));
  const userName = new Map(users.map((u) => [u.id, u.username]));

  const typeSel = select('annotation_type', [['', 'any type'], ...types.map((t): [string, string] => [String(t.id), t.name])]);
  const userSel = select('user', [['', 'anyone'], ...users.map((u): [string, string] => [String(u.id), u.username])]);
  const from = h('input', { type: 'date', name: 'from' });
  const to = h('input', { type: 'date', name: 'to' });
  const verif = select('verified', [['', 'any'], ['yes', 'verified'], ['no', 'not verified']]);
  const deleted = select('deleted', [['false', 'live'], ['trash', 'in the trash']]);
  const view = select('view', [['table', 'table'], ['gallery', 'gallery of crops']]);
  const filters = h(
    'form',
    { id: 'annotation-filters', class: 'card filters', 'aria-label': 'Filters' },
    field('Type', 'annotation_type', {}, typeSel),
    field('Created by', 'user', {}, userSel),
    field('Created from', 'from', {}, from),
    field('Created until', 'to', {}, to),
    field('Verification', 'verified', {}, verif),
    field('State', 'deleted', {}, deleted),
    field('Show as', 'view', {}, view),
    h('button', { type: 'submit', text: 'Apply' }),
  );
  const results = h('div', { id: 'annotation-results', 'aria-live': 'polite' });
  const bulkType = select('relabel', types.map((t): [string, string] => [String(t.id), t.name]));
  bulkType.id = 'relabel-type';
  bulkType.setAttribute('aria-label', 'New type for the selected annotations');
  const selected = new Set<Id>();
  const count = h('span', { id: 'selected-count', text: '0 selected' });
  const bulk = h(
    'div',
    { class: 'toolbar', id: 'bulk' },
    count,
    action('Delete selected', async () => {
      if (!selected.size) throw new Error('Select annotations first.');
      await request('DELETE', `${A}/annotations/annotations/multiple_delete/?id__in=${[...selected].join(',')}`);
      await load(0);
    }, { id: 'bulk-delete' }),
    action('Restore selected', async () => {
      if (!selected.size) throw new Error('Select annotations first.');
      await request('POST', `${A}/annotations/annotations/multiple_update/`, { ids: [...selected], deleted: false });
      await load(0);
    }, { id: 'bulk-restore' }),
    bulkType,
    action('Relabel selected', async () => {
      if (!selected.size) throw new Error('Select annotations first.');
      await request('POST', `${A}/annotations/annotations/multiple_update/`, { ids: [...selected], annotation_type: Number(bulkType.value) });
      await load(0);
    }, { id: 'bulk-relabel' }),
  );

  let verified: Set<Id> | null = null;
  const load = async (offset: number): Promise<void> => {
    selected.clear();
    count.textContent = '0 selected';
    const p = new URLSearchParams({ image__in: images.map((i) => i.id).join(',') || '0', limit: String(PAGE), offset: String(offset), omit: 'annotationversion_set,uploaded_media_files' });
    if (typeSel.value) p.set('annotation_type', typeSel.value);
    if (userSel.value) p.set('user', userSel.value);
    if (from.value) p.set('time__gte', `${from.value}T00:00:00`);
    if (to.value) p.set('time__lte', `${to.value}T23:59:59.999999`);
    let page: Page<Annotation>;
    if (deleted.value === 'trash') {
      // The trash is listed per image; filtered and paged here.
      const lists = await Promise.all(images.map((i) => request<Page<Annotation>>('GET', `${A}/annotations/annotations/trash/?image=${i.id}&limit=10000`)));
      const lo = from.value ? `${from.value}T00:00:00` : '';
      const hi = to.value ? `${to.value}T23:59:59.999999` : '';
      const hits = lists
        .flatMap((l) => l.results)
        .filter((a) => (!typeSel.value || a.annotation_type === Number(typeSel.value)) && (!userSel.value || a.user === Number(userSel.value)) && (!lo || a.time >= lo) && (!hi || a.time <= hi))
        .sort((a, b) => a.id - b.id);
      page = { count: hits.length, next: null, previous: null, results: hits.slice(offset, offset + PAGE).map((a) => ({ ...a, deleted: true })) };
    } else {
      p.set('deleted', 'false');
      page = await request<Page<Annotation>>('GET', `${A}/annotations/annotations/?${p.toString()}`);
    }
    if (verif.value) {
      verified ??= new Set((await all<Verification>(`${A}/annotations/verifications/?verified=True`)).map((v) => v.annotation));
      const want = verif.value === 'yes';
      const v = verified;
      page = { ...page, results: page.results.filter((a) => v.has(a.id) === want) };
    }
    const pick = (a: Annotation): HTMLInputElement => {
      const c = h('input', { type: 'checkbox', 'aria-label': `Select annotation ${a.id}`, 'data-annotation': a.id });
      c.addEventListener('change', () => {
        if (c.checked) selected.add(a.id);
        else selected.delete(a.id);
        count.textContent = `${selected.size} selected`;
      });
      return c;
    };
    const all_ = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select all shown' });
    all_.addEventListener('change', () => {
      for (const c of results.querySelectorAll<HTMLInputElement>('input[data-annotation]')) {
        c.checked = all_.checked;
        c.dispatchEvent(new Event('change'));
      }
    });
    const label = (a: Annotation): string => typeById.get(a.annotation_type)?.name ?? `type ${a.annotation_type}`;
    let body: HTMLElement;
    if (view.value === 'gallery') {
      body = h(
        'ul',
        { class: 'gallery', id: 'gallery' },
        ...page.results.map((a) => {
          const b = bbox(a);
          const img = imageById.get(a.image);
          let crop: HTMLElement = h('span', { class: 'muted', text: 'no geometry' });
          if (b && img && (img.state ?? 'ready') === 'ready') {
            const cx = (b[0] + b[2]) / 2;
            const cy = (b[1] + b[3]) / 2;
            const w = Math.min(256, Math.max(32, Math.round(b[2] - b[0] + 16)));
            const hh = Math.min(256, Math.max(32, Math.round(b[3] - b[1] + 16)));
            const x = Math.max(0, Math.round(cx - w / 2));
            const y = Math.max(0, Math.round(cy - hh / 2));
            crop = h('img', { src: `${A}/images/images/${a.image}/get_patch/?x=${x}&y=${y}&level=0&width=${w}&height=${hh}`, alt: `${label(a)} on ${img.name}`, loading: 'lazy' });
          }
          return h('li', { class: a.deleted ? 'deleted' : '' }, h('label', {}, pick(a), crop, h('span', { text: `${label(a)} #${a.id}${a.deleted ? ' (in the trash)' : ''}` })));
        }),
      );
    } else {
      body = h(
        'table',
        { class: 'grid', id: 'annotation-table' },
        h('caption', { text: 'Annotations' }),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, all_), ...['Id', 'Type', 'Image', 'Created by', 'Created', 'State'].map((t) => h('th', { scope: 'col', text: t })))),
        h(
          'tbody',
          {},
          ...page.results.map((a) =>
            h(
              'tr',
              { class: a.deleted ? 'deleted' : '' },
              h('td', {}, pick(a)),
              h('td', {}, h('a', { href: `/annotations/${a.image}/?annotation=${a.id}`, text: String(a.id) })),
              h('td', { text: label(a) }),
              h('td', { text: imageById.get(a.image)?.name ?? String(a.image) }),
              h('td', { text: a.user === null ? '' : (userName.get(a.user) ?? String(a.user)) }),
              h('td', { text: a.time.replace('T', ' ').slice(0, 19) }),
              h('td', { text: a.deleted ? 'in the trash' : 'live' }),
            ),
          ),
        ),
      );
    }
    const nav = h('div', { class: 'toolbar' }, h('span', { id: 'annotation-count', text: `${page.count} annotations${verif.value ? ' (before the verification filter)' : ''}` }));
    if (offset > 0) nav.append(action('Previous page', () => load(Math.max(0, offset - PAGE))));
    if (offset + PAGE < page.count) nav.append(action('Next page', () => load(offset + PAGE)));
    results.replaceChildren(nav, body);
  };
  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    void load(0);
  });
  main.append(filters, bulk, results);
  await load(0);
}
