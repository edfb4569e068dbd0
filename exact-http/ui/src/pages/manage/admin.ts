// `/administration/` (superusers): the server's status (version, storage backends without
// secrets, counts, recent failed uploads and errors) and users (create, deactivate, reset the
// password, make superuser).

import { request } from '../../api/client';
import { h } from '../dom';
import { A, type FullUser, action, all, checkbox, field, form, frame, str, table } from './common';

interface Status {
  version: string;
  storage: { meta: string; blobs: string };
  counts: Record<string, number>;
  recent_failed_uploads: { id: number; image_set: number; name: string; time: string; reason: string }[];
  recent_errors: { at: number; message: string }[];
}

export async function adminPage(): Promise<void> {
  const { me, main } = await frame('Administration');
  if (!me.is_superuser) {
    main.append(h('p', { class: 'page-error', role: 'alert', text: 'Only superusers may administer the server.' }));
    return;
  }
  const st = await request<Status>('GET', `${A}/administration/status/`);
  main.append(
    h(
      'section',
      { class: 'card', id: 'status', 'aria-label': 'Server status' },
      h('h2', { text: 'Status' }),
      h(
        'dl',
        {},
        h('dt', { text: 'Version' }),
        h('dd', { text: `exact-rs ${st.version}` }),
        h('dt', { text: 'Metadata store' }),
        h('dd', { class: 'mono', text: st.storage.meta }),
        h('dt', { text: 'Blob store' }),
        h('dd', { class: 'mono', text: st.storage.blobs }),
        ...Object.entries(st.counts).flatMap(([k, v]) => [h('dt', { text: k.replace(/_/g, ' ') }), h('dd', { 'data-count': k, text: String(v) })]),
      ),
      h('h3', { text: 'Recent failed uploads' }),
      st.recent_failed_uploads.length
        ? table('failed-uploads', 'Recent failed uploads', ['Image', 'Set', 'When', 'Reason'], st.recent_failed_uploads.map((f) => [f.name, h('a', { href: `/images/imageset/${f.image_set}/`, text: String(f.image_set) }), f.time.replace('T', ' ').slice(0, 19), f.reason]))
        : h('p', { class: 'muted', text: 'None.' }),
      h('h3', { text: 'Recent server errors (since start)' }),
      st.recent_errors.length
        ? h('ul', { id: 'recent-errors' }, ...st.recent_errors.map((e) => h('li', { class: 'mono', text: `${new Date(e.at * 1000).toISOString()} ${e.message}` })))
        : h('p', { class: 'muted', text: 'None.' }),
    ),
  );

  const users = await all<FullUser>(`${A}/users/users/`);
  main.append(
    h(
      'section',
      { class: 'card', 'aria-label': 'Users' },
      table(
        'user-table',
        'Users',
        ['User', 'Superuser', 'Active', 'Last login', ''],
        users.map((u) => [
          u.username,
          u.is_superuser ? 'yes' : 'no',
          u.is_active === false ? 'no' : 'yes',
          u.last_login ? u.last_login.replace('T', ' ').slice(0, 16) : 'never',
          u.id === me.id
            ? ''
            : h(
                'span',
                {},
                action(u.is_active === false ? 'Activate' : 'Deactivate', async () => {
                  await request('PATCH', `${A}/users/users/${u.id}/`, { is_active: u.is_active === false });
                  location.reload();
                }, { 'aria-label': `${u.is_active === false ? 'Activate' : 'Deactivate'} ${u.username}` }),
                action(u.is_superuser ? 'Revoke superuser' : 'Make superuser', async () => {
                  await request('PATCH', `${A}/users/users/${u.id}/`, { is_superuser: !u.is_superuser });
                  location.reload();
                }, { 'aria-label': `${u.is_superuser ? 'Revoke superuser from' : 'Make superuser'} ${u.username}` }),
                resetPassword(u),
              ),
        ]),
      ),
    ),
    form(
      'create-user',
      'Create a user',
      [
        field('Username', 'username', { required: true, autocomplete: 'off' }),
        field('Password', 'password', { type: 'password', autocomplete: 'new-password', required: true }),
        field('E-mail', 'email', { type: 'email' }),
        checkbox('Superuser', 'is_superuser'),
      ],
      'Create user',
      async (d) => {
        await request('POST', `${A}/users/users/`, { username: str(d, 'username'), password: str(d, 'password'), email: str(d, 'email'), is_superuser: d.get('is_superuser') !== null });
        location.reload();
      },
    ),
  );
}

function resetPassword(u: FullUser): HTMLElement {
  const f = form(`reset-${u.id}`, `New password for ${u.username}`, [field('New password', 'password', { type: 'password', autocomplete: 'new-password' })], 'Reset password', async (d, el) => {
    await request('POST', `${A}/users/users/${u.id}/set_password/`, { password: str(d, 'password') });
    el.reset();
    el.append(h('p', { class: 'ok', role: 'status', text: 'Password reset.' }));
  });
  f.classList.add('inline');
  return h('details', {}, h('summary', { text: 'Reset password' }), f);
}
