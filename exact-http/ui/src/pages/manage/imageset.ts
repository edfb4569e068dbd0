// `/images/imageset/<id>/`: the set's images (thumbnail, size, state with the reason, annotation
// count, a link into the viewer), filtered by annotation type / verified / unverified / none;
// upload by drag and drop; annotation imports followed as jobs (imports.ts); a slide by URL
// (superusers); zip download (also without label and macro images); products; set versions (create, list, compare with the live
// set); edit and delete (refused while images remain).

import { request } from '../../api/client';
import type { AnnotationType, Id, Image, Page } from '../../api/types';
import { h, pageId } from '../dom';
import { A, type Product, type SetFull, type SetTag, type Team, action, all, field, form, frame, num, select, str, table } from './common';
import { importer } from './imports';
import { uploader } from './upload';

interface SetVersion {
  id: Id;
  name: string;
  time: string;
  imagesets: Id[];
}

interface Snapshot {
  id: Id;
  annotation: Id;
  image: Id;
  deleted: boolean;
  has_changes: boolean;
}

export async function imageSetPage(): Promise<void> {
  const id = pageId();
  const set = await request<SetFull>('GET', `${A}/images/image_sets/${id}/`);
  const { me, main } = await frame(set.name, [['Image sets', '/images/']]);
  const team = set.team === null ? null : await request<Team>('GET', `${A}/users/teams/${set.team}/`).catch(() => null);
  const products = await all<Product>(`${A}/administration/products/`);
  const mine = products.filter((p) => set.product_set.includes(p.id));
  const types: AnnotationType[] = [];
  for (const p of mine) types.push(...(await all<AnnotationType>(`${A}/annotations/annotation_types/?product=${p.id}`)));

  main.append(
    h(
      'p',
      { class: 'set-meta' },
      team ? h('span', {}, 'Team ', h('a', { href: `/users/team/${team.id}/`, text: team.name })) : null,
      set.description ? h('span', { class: 'muted', text: ` — ${set.description}` }) : null,
    ),
    h(
      'div',
      { class: 'toolbar' },
      h('a', { href: `/annotations/manage/annotation/${id}/`, id: 'manage-link', text: 'Manage annotations' }),
      h('a', { href: `/images/imageset/${id}/download/`, id: 'zip-link', download: `imageset_${id}.zip`, text: 'Download as zip' }),
      // Before slides leave: the zip without label and macro images. Checked first, so a
      // slide that cannot be done (DICOM …) shows the server's reason here, not a saved error.
      action('Download without labels', async () => {
        const url = `/images/imageset/${id}/download/?deidentify=true`;
        await request('GET', `${url}&check=true`);
        location.href = url;
      }, { id: 'zip-deidentified' }),
    ),
  );

  // ---- images ----
  const filter = select('filter', [
    ['', 'All images'],
    ['verified', 'Verified'],
    ['unverified', 'Unverified'],
    ['none', 'No annotations'],
    ...types.map((t): [string, string] => [`type:${t.id}`, `With “${t.name}”`]),
  ]);
  filter.id = 'image-filter';
  const imagesBox = h('div', { id: 'images' });
  let timer = 0;
  const loadImages = async (): Promise<void> => {
    const f = filter.value;
    const extra =
      f === 'verified' ? '&verified=True' : f === 'unverified' ? '&verified=False' : f === 'none' ? '&num_annotations_max=0' : f.startsWith('type:') ? `&annotation_type=${f.slice(5)}` : '';
    const images = await request<Page<Image & { original?: string; image_type?: number }>>('GET', `${A}/images/images/?image_set=${id}&omit=annotations&limit=10000${extra}`);
    const rows = images.results
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((i) => {
        // An image registered by its metadata alone (e.g. created by an annotation import)
        // has no file to show until one is attached.
        const noFile = i.original === '' && i.image_type !== 2;
        const state = noFile ? 'no-file' : (i.state ?? 'ready');
        const count = h('span', { class: 'count', 'data-count-of': i.id, text: '…' });
        return [
          state === 'ready'
            ? h('img', { src: `${A}/images/images/${i.id}/thumbnail/`, alt: `Thumbnail of ${i.name}`, class: 'thumbnail', loading: 'lazy' })
            : h('span', { class: 'muted', text: '—' }),
          state === 'ready' ? h('a', { href: `/annotations/${i.id}/`, class: 'open-viewer', text: i.name }) : i.name,
          i.width ? `${i.width} × ${i.height}` : '',
          h('span', { class: `state state-${state}`, 'data-image': i.id, text: state === 'ready' ? 'ready' : state === 'no-file' ? 'no file yet' : `${state}${i.state_detail ? `: ${i.state_detail}` : ''}` }),
          count,
          action('Delete', async () => {
            if (!confirm(`Delete image ${i.name} and its annotations?`)) return;
            await request('DELETE', `${A}/images/images/${i.id}/`);
            await loadImages();
          }, { 'aria-label': `Delete ${i.name}` }),
        ];
      });
    void request<{ images: Record<string, number> }>('GET', `${A}/images/image_sets/${id}/annotation_counts/`).then((c) => {
      for (const el of imagesBox.querySelectorAll<HTMLElement>('[data-count-of]')) el.textContent = String(c.images[el.dataset.countOf ?? ''] ?? 0);
    });
    imagesBox.replaceChildren(
      rows.length ? table('image-table', `${images.count} images`, ['', 'Name', 'Size (px)', 'State', 'Annotations', ''], rows) : h('p', { class: 'muted', text: filter.value ? 'No image matches.' : 'No images yet: drop files below.' }),
    );
    clearTimeout(timer);
    if (images.results.some((i) => i.state === 'converting')) timer = window.setTimeout(() => void loadImages(), 1000);
  };
  filter.addEventListener('change', () => void loadImages());
  main.append(
    h('section', { class: 'card', 'aria-label': 'Images' }, h('h2', { text: 'Images' }), h('label', { for: 'image-filter', text: 'Show ' }), filter, imagesBox),
  );
  await loadImages();
  let refresh = 0;
  main.append(
    uploader(id, () => {
      clearTimeout(refresh);
      refresh = window.setTimeout(() => void loadImages(), 200);
    }),
  );
  main.append(importer(id, () => void loadImages()));

  if (me.is_superuser) {
    main.append(
      form(
        'add-url',
        'Add a slide by URL (not copied)',
        [field('Slide URL (s3://bucket/key.svs or a server path)', 'filename', { required: true }), field('Name', 'name', { required: true })],
        'Add slide',
        async (d, f) => {
          await request('POST', `${A}/images/images/`, { image_type: 2, filename: str(d, 'filename'), name: str(d, 'name'), image_set: id });
          f.reset();
          await loadImages();
        },
      ),
    );
  }

  // ---- products ----
  const teamProducts = products.filter((p) => p.team === set.team && !set.product_set.includes(p.id));
  main.append(
    h(
      'section',
      { class: 'card', id: 'set-products', 'aria-label': 'Products' },
      h('h2', { text: 'Products' }),
      mine.length
        ? h('ul', {}, ...mine.map((p) => h('li', {}, h('a', { href: `/administration/product/${p.id}/`, text: p.name }))))
        : h('p', { class: 'muted', text: 'No product yet: annotation types come from products.' }),
      teamProducts.length
        ? form('add-product', 'Add a product of the team', [field('Product', 'product', {}, select('product', teamProducts.map((p) => [String(p.id), p.name])))], 'Add product', async (d) => {
            const p = products.find((x) => x.id === num(d, 'product'));
            if (!p) return;
            await request('PATCH', `${A}/administration/products/${p.id}/`, { imagesets: [...p.imagesets, id] });
            location.reload();
          })
        : null,
    ),
  );

  // ---- versions ----
  const versionsBox = h('div', { id: 'versions' });
  const loadVersions = async (): Promise<void> => {
    const versions = (await all<SetVersion>(`${A}/images/set_versions/?imagesets=${id}`)).filter((v) => v.imagesets.includes(id));
    versionsBox.replaceChildren(
      versions.length
        ? table(
            'version-table',
            'Set versions',
            ['Name', 'Created', 'Compared with the live set'],
            versions.map((v) => {
              const out = h('span', { class: 'diff', 'data-version': v.id });
              const compare = action('Compare', async () => {
                const snaps = await all<Snapshot>(`${A}/annotations/annotation_versions/?version=${v.id}`);
                const changed = snaps.filter((s) => s.has_changes).length;
                const now = await request<SetFull>('GET', `${A}/images/image_sets/${id}/`);
                const live = await request<Page<unknown>>('GET', `${A}/annotations/annotations/?image__in=${now.images.join(',') || '0'}&deleted=false&limit=1&fields=id`);
                out.textContent = `${snaps.length} annotations in the version, ${changed} changed since, ${live.count} live now`;
              }, { 'aria-label': `Compare ${v.name} with the live set` });
              return [v.name, v.time.replace('T', ' ').slice(0, 19), h('span', {}, compare, ' ', out)];
            }),
          )
        : h('p', { class: 'muted', text: 'No version yet.' }),
    );
  };
  main.append(
    h(
      'section',
      { class: 'card', 'aria-label': 'Set versions' },
      h('h2', { text: 'Set versions' }),
      versionsBox,
      form('create-version', 'Create a version (a snapshot of all annotations)', [field('Version name', 'name', { required: true })], 'Create version', async (d, f) => {
        await request('POST', `${A}/images/set_versions/`, { name: str(d, 'name'), imagesets: [id] });
        f.reset();
        await loadVersions();
      }),
    ),
  );
  await loadVersions();

  // ---- edit / tags / delete ----
  const tags = (await all<SetTag>(`${A}/images/set_tags/`)).filter((t) => t.imagesets.includes(id));
  main.append(
    form('add-tag', 'Tags', [h('p', { id: 'set-tags' }, ...(tags.length ? tags.map((t) => h('span', { class: 'tag', text: t.name })) : [h('span', { class: 'muted', text: 'No tag yet.' })])), field('New tag', 'name', { required: true })], 'Add tag', async (d) => {
      await request('POST', `${A}/images/set_tags/`, { name: str(d, 'name'), imagesets: [id] });
      location.reload();
    }),
  );
  main.append(
    form(
      'edit-set',
      'Edit the set',
      [
        field('Name', 'name', { value: set.name, required: true }),
        field('Description', 'description', { value: set.description }),
        field('Priority', 'priority', {}, select('priority', [['0', 'normal'], ['1', 'high'], ['-1', 'low']], String(set.priority))),
      ],
      'Save',
      async (d) => {
        await request('PATCH', `${A}/images/image_sets/${id}/`, { name: str(d, 'name'), description: str(d, 'description'), priority: num(d, 'priority') });
        location.reload();
      },
    ),
    h(
      'section',
      { class: 'card danger', 'aria-label': 'Delete the set' },
      h('h2', { text: 'Delete the set' }),
      h('p', { class: 'muted', text: 'Only an empty set can be deleted: delete its images first (its versions keep their snapshots).' }),
      action('Delete set', async () => {
        if (!confirm(`Delete the set ${set.name}?`)) return;
        await request('DELETE', `${A}/images/image_sets/${id}/`);
        location.assign('/images/');
      }, { id: 'delete-set' }),
    ),
  );
}
