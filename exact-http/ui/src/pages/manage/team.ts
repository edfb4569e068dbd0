// `/users/team/<id>/`: members and roles, adding a member by username, making and revoking
// admins, removing members or leaving; the team's products (create, open).

import { ApiError, request } from '../../api/client';
import type { Page } from '../../api/types';
import { h, pageId } from '../dom';
import { A, type FullUser, type Membership, type Product, type Team, action, all, checkbox, field, form, frame, str, table } from './common';

export async function teamPage(): Promise<void> {
  const id = pageId();
  const team = await request<Team>('GET', `${A}/users/teams/${id}/`);
  const { me, main } = await frame(`Team ${team.name}`, [['Image sets', '/images/']]);
  const [memberships, users, products] = await Promise.all([
    all<Membership>(`${A}/users/team_membership/?team=${id}`),
    all<FullUser>(`${A}/users/users/?team=${id}`),
    all<Product>(`${A}/administration/products/?team=${id}`),
  ]);
  const name = new Map(users.map((u) => [u.id, u.username]));
  const mine = memberships.find((m) => m.user === me.id);
  const admin = me.is_superuser === true || mine?.is_admin === true;
  const rows = memberships
    .filter((m) => m.team === id)
    .map((m) => {
      const who = name.get(m.user) ?? `user ${m.user}`;
      return [
        who,
        m.is_admin ? 'admin' : 'member',
        h(
          'span',
          {},
          admin
            ? action(m.is_admin ? 'Revoke admin' : 'Make admin', async () => {
                await request('PATCH', `${A}/users/team_membership/${m.id}/`, { is_admin: !m.is_admin });
                location.reload();
              }, { 'aria-label': `${m.is_admin ? 'Revoke admin from' : 'Make admin'} ${who}` })
            : null,
          m.user === me.id
            ? action('Leave team', async () => {
                if (!confirm(`Leave ${team.name}?`)) return;
                await request('DELETE', `${A}/users/team_membership/${m.id}/`);
                location.assign('/images/');
              }, { id: 'leave-team' })
            : admin
              ? action('Remove', async () => {
                  await request('DELETE', `${A}/users/team_membership/${m.id}/`);
                  location.reload();
                }, { 'aria-label': `Remove ${who}` })
              : null,
        ),
      ];
    });
  main.append(h('section', { class: 'card', 'aria-label': 'Members' }, table('member-table', 'Members', ['User', 'Role', ''], rows)));
  if (admin) {
    main.append(
      form('add-member', 'Add a member', [field('Username', 'username', { required: true, autocomplete: 'off' }), checkbox('Team admin', 'is_admin')], 'Add member', async (d) => {
        const username = str(d, 'username');
        if (!username) throw new ApiError(400, 'A username is required.', { username: ['This field is required.'] });
        const found = await request<Page<FullUser>>('GET', `${A}/users/users/?username=${encodeURIComponent(username)}`);
        const u = found.results.find((x) => x.username === username);
        if (!u) throw new ApiError(404, 'No such user.', { username: [`No user called “${username}” that you can see.`] });
        await request('POST', `${A}/users/team_membership/`, { team: id, user: u.id, is_admin: d.get('is_admin') !== null });
        location.reload();
      }),
    );
  }
  main.append(
    h(
      'section',
      { class: 'card', id: 'team-products', 'aria-label': 'Products' },
      h('h2', { text: 'Products' }),
      products.length
        ? h('ul', {}, ...products.map((p) => h('li', {}, h('a', { href: `/administration/product/${p.id}/`, text: p.name }), p.description ? ` — ${p.description}` : '')))
        : h('p', { class: 'muted', text: 'No product yet.' }),
    ),
    form('create-product', 'Create a product', [field('Product name', 'name', { required: true }), field('Description', 'description')], 'Create product', async (d) => {
      const p = await request<Product>('POST', `${A}/administration/products/`, { name: str(d, 'name'), description: str(d, 'description'), team: id });
      location.assign(`/administration/product/${p.id}/`);
    }),
  );
}
