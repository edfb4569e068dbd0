// `/administration/product/<id>/`: a product (name, description, the team's sets that use it)
// and its annotation types: name, vector type, colour, default size, sort order (the 1–9 key
// order in the viewer), closed/area flags as EXACT has them; creating, editing and
// deactivating types. "Deactivating" a product detaches it from every set.

import { request } from '../../api/client';
import type { AnnotationType } from '../../api/types';
import { h, pageId } from '../dom';
import { A, type Product, type SetFull, type Team, action, all, checkbox, field, form, frame, num, select, str } from './common';

const VECTOR_TYPES: [string, string][] = [
  ['1', 'Box'],
  ['2', 'Point / ellipse'],
  ['3', 'Line'],
  ['4', 'Polyline'],
  ['5', 'Polygon'],
  ['6', 'Fixed-size box'],
  ['7', 'Global (image label)'],
];

function typeFields(t?: AnnotationType): HTMLElement[] {
  return [
    field('Name', 'name', { value: t?.name, required: true }),
    field('Vector type', 'vector_type', {}, select('vector_type', VECTOR_TYPES, String(t?.vector_type ?? 1))),
    field('Colour', 'color_code', { type: 'color', value: t?.color_code ?? '#1e88e5' }),
    field('Default width (px)', 'default_width', { type: 'number', min: 0, value: t?.default_width ?? 50 }),
    field('Default height (px)', 'default_height', { type: 'number', min: 0, value: t?.default_height ?? 50 }),
    field('Sort order (viewer key order)', 'sort_order', { type: 'number', value: t?.sort_order ?? 0 }),
    checkbox('Closed outline', 'closed', t?.closed ?? false),
    checkbox('Hit test on the area', 'area_hit_test', t?.area_hit_test ?? true),
  ];
}

function typeBody(d: FormData): Record<string, unknown> {
  return {
    name: str(d, 'name'),
    vector_type: num(d, 'vector_type'),
    color_code: str(d, 'color_code'),
    default_width: num(d, 'default_width'),
    default_height: num(d, 'default_height'),
    sort_order: num(d, 'sort_order'),
    closed: d.get('closed') !== null,
    area_hit_test: d.get('area_hit_test') !== null,
  };
}

export async function productPage(): Promise<void> {
  const id = pageId();
  const product = await request<Product>('GET', `${A}/administration/products/${id}/`);
  const team = product.team === null ? null : await request<Team>('GET', `${A}/users/teams/${product.team}/`).catch(() => null);
  const crumbs: [string, string][] = [['Image sets', '/images/']];
  if (team) crumbs.push([`Team ${team.name}`, `/users/team/${team.id}/`]);
  const { main } = await frame(`Product ${product.name}`, crumbs);
  const [types, sets] = await Promise.all([
    all<AnnotationType>(`${A}/annotations/annotation_types/?product=${id}`),
    all<SetFull>(`${A}/images/image_sets/`),
  ]);
  const teamSets = sets.filter((s) => s.team === product.team);

  main.append(
    form(
      'edit-product',
      'Product',
      [
        field('Name', 'name', { value: product.name, required: true }),
        field('Description', 'description', { value: product.description }),
        h(
          'fieldset',
          {},
          h('legend', { text: 'Used by the sets' }),
          ...teamSets.map((s) => checkbox(s.name, `set-${s.id}`, product.imagesets.includes(s.id))),
        ),
      ],
      'Save product',
      async (d) => {
        const imagesets = teamSets.filter((s) => d.get(`set-${s.id}`) !== null).map((s) => s.id);
        await request('PATCH', `${A}/administration/products/${id}/`, { name: str(d, 'name'), description: str(d, 'description'), imagesets });
        location.reload();
      },
    ),
    h(
      'p',
      {},
      action('Deactivate (detach from every set)', async () => {
        await request('PATCH', `${A}/administration/products/${id}/`, { imagesets: [] });
        location.reload();
      }, { id: 'deactivate-product' }),
    ),
  );

  const sorted = types.sort((a, b) => a.sort_order - b.sort_order || a.name.localeCompare(b.name));
  main.append(
    h(
      'section',
      { class: 'card', id: 'types', 'aria-label': 'Annotation types' },
      h('h2', { text: 'Annotation types' }),
      sorted.length ? h('p', { class: 'muted', text: 'In the viewer, keys 1–9 pick these types in this order.' }) : h('p', { class: 'muted', text: 'No annotation type yet.' }),
      ...sorted.map((t, i) => {
        const f = form(`edit-type-${t.id}`, `${i < 9 ? `${i + 1}: ` : ''}${t.name}`, typeFields(t), 'Save type', async (d) => {
          await request('PATCH', `${A}/annotations/annotation_types/${t.id}/`, typeBody(d));
          location.reload();
        });
        f.classList.add('type-form');
        f.prepend(h('span', { class: 'swatch', style: `background:${t.color_code}` }));
        f.append(
          action('Deactivate', async () => {
            await request('PATCH', `${A}/annotations/annotation_types/${t.id}/`, { active: false });
            location.reload();
          }, { 'aria-label': `Deactivate ${t.name}` }),
        );
        return f;
      }),
    ),
    form('create-type', 'Add an annotation type', typeFields(), 'Add type', async (d) => {
      await request('POST', `${A}/annotations/annotation_types/`, { ...typeBody(d), product: id });
      location.reload();
    }),
  );
}
