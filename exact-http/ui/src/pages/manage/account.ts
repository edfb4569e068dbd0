// `/users/account/`: change my password; personal access tokens (create with an expiry — the
// secret is shown once —, list, revoke) with copyable snippets for EXACT-Sync and notebooks;
// log out everywhere.

import { request } from '../../api/client';
import type { Id } from '../../api/types';
import { h } from '../dom';
import { A, action, field, form, frame, num, str, table } from './common';

interface Token {
  id: Id;
  name: string;
  created_at: string;
  expires_at: string | null;
  revoked: boolean;
  token?: string;
}

function day(t: string | null): string {
  return t ? t.replace('T', ' ').slice(0, 16) : 'never';
}

export async function accountPage(): Promise<void> {
  const { me, main } = await frame('My account');
  main.append(
    form(
      'change-password',
      'Change password',
      [
        field('Current password', 'old_password', { type: 'password', autocomplete: 'current-password', required: true }),
        field('New password', 'password', { type: 'password', autocomplete: 'new-password', required: true }),
      ],
      'Change password',
      async (d, f) => {
        await request('POST', `${A}/users/users/${me.id}/set_password/`, { old_password: str(d, 'old_password'), password: str(d, 'password') });
        f.reset();
        f.querySelector('.form-error')!.textContent = '';
        f.append(h('p', { class: 'ok', role: 'status', text: 'Password changed.' }));
      },
    ),
  );

  const tokens = h('div', { id: 'tokens' });
  const loadTokens = async (): Promise<void> => {
    const list = await request<Token[]>('GET', '/users/api/tokens/');
    tokens.replaceChildren(
      list.length
        ? table(
            'token-table',
            'Personal access tokens',
            ['Name', 'Created', 'Expires', 'State', ''],
            list.map((t) => [
              t.name,
              day(t.created_at),
              day(t.expires_at),
              t.revoked ? 'revoked' : 'active',
              t.revoked
                ? ''
                : action('Revoke', async () => {
                    await request('POST', `/users/api/tokens/${t.id}/revoke/`);
                    await loadTokens();
                  }, { 'aria-label': `Revoke token ${t.name}` }),
            ]),
          )
        : h('p', { class: 'muted', text: 'No token yet.' }),
    );
  };
  const secretBox = h('div', { id: 'new-token', 'aria-live': 'polite' });
  main.append(
    h(
      'section',
      { class: 'card', 'aria-label': 'Personal access tokens' },
      h('h2', { text: 'Personal access tokens' }),
      h('p', { class: 'muted', text: 'For EXACT-Sync, scripts and notebooks: a token acts as you until it expires or you revoke it.' }),
      tokens,
      form(
        'create-token',
        'Create a token',
        [field('Token name', 'name', { required: true, value: 'notebook' }), field('Expires after (days, empty = never)', 'expires_in_days', { type: 'number', min: 1, value: 90 })],
        'Create token',
        async (d) => {
          const days = num(d, 'expires_in_days');
          const body: Record<string, unknown> = { name: str(d, 'name') };
          if (days !== undefined) body.expires_in_days = days;
          const t = await request<Token>('POST', '/users/api/tokens/', body);
          showSecret(secretBox, t.token ?? '');
          await loadTokens();
        },
      ),
      secretBox,
    ),
  );
  await loadTokens();

  main.append(
    h(
      'section',
      { class: 'card', 'aria-label': 'Sessions' },
      h('h2', { text: 'Sessions' }),
      action('Log out everywhere', async () => {
        await request('POST', `${A}/auth/logout_all/`);
        location.assign('/user/login/');
      }, { id: 'logout-all' }),
    ),
  );
}

function showSecret(box: HTMLElement, secret: string): void {
  const host = location.origin;
  const sync = `from exact_sync.v1.api_client import ApiClient
from exact_sync.v1.configuration import Configuration
from exact_sync.v1.api.image_sets_api import ImageSetsApi

conf = Configuration()
conf.host = "${host}"
conf.token = "${secret}"   # sent as Authorization: Bearer …
print(ImageSetsApi(ApiClient(conf)).list_image_sets())`;
  const notebook = `import requests
s = requests.Session()
s.headers["Authorization"] = "Bearer ${secret}"
print(s.get("${host}/api/v1/images/image_sets/").json())`;
  const copy = (text: string, label: string): HTMLElement =>
    action(`Copy ${label}`, async () => {
      await navigator.clipboard.writeText(text);
    });
  box.replaceChildren(
    h('p', { class: 'ok', role: 'status', text: 'Your new token — copy it now, it is shown only once:' }),
    h('input', { id: 'token-secret', readonly: true, value: secret, 'aria-label': 'New token', class: 'mono wide' }),
    copy(secret, 'token'),
    h('h3', { text: 'EXACT-Sync' }),
    h('pre', { class: 'snippet', id: 'snippet-sync', text: sync }),
    copy(sync, 'EXACT-Sync snippet'),
    h('h3', { text: 'Notebooks (requests)' }),
    h('pre', { class: 'snippet', id: 'snippet-notebook', text: notebook }),
    copy(notebook, 'notebook snippet'),
  );
}
