// `/`: until the home page of the next issue exists, a minimal list of the user's images
// (grouped by set), each opening the viewer; the last image viewed comes first.

import { api } from '../api/client';
import type { Image, Page } from '../api/types';
import { request } from '../api/client';
import { byId, h } from './dom';

export async function homePage(): Promise<void> {
  const me = await api.me();
  const images = await request<Page<Image>>('GET', '/api/v1/images/images/?omit=annotations&limit=1000');
  const last = Number(localStorage.getItem('exact-last-image') ?? '0');
  const logout = h('button', { type: 'button', id: 'logout', text: 'Log out' });
  logout.addEventListener('click', () => void api.logout().finally(() => location.assign('/user/login/')));
  const sorted = images.results.sort((a, b) => (b.id === last ? 1 : 0) - (a.id === last ? 1 : 0) || a.image_set - b.image_set || a.name.localeCompare(b.name));
  byId('app').replaceChildren(
    h('header', { class: 'top' }, h('span', { class: 'brand', text: 'EXACT' }), h('span', { class: 'grow' }), h('span', { id: 'username', text: me.username }), logout),
    h(
      'main',
      { class: 'home' },
      h('h1', { text: 'Images' }),
      sorted.length
        ? h('ul', { id: 'image-list' }, ...sorted.map((i) => h('li', {}, h('a', { href: `/annotations/${i.id}/`, text: `${i.name} (set ${i.image_set})` }))))
        : h('p', { text: 'No images yet: upload through the API (POST /api/v1/images/images/).' }),
    ),
  );
}
