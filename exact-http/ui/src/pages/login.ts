// `/user/login/`: EXACT's form (fields `username`, `password`) over the session API; returns to
// `?next=` (same-origin paths only) afterwards.

import { ApiError, api } from '../api/client';
import { byId, h } from './dom';

export function safeNext(raw: string | null): string {
  // Only a path on this site: never `//evil` or `https://…` (an open redirect).
  if (!raw || !raw.startsWith('/') || raw.startsWith('//') || raw.startsWith('/\\')) return '/';
  return raw;
}

export function loginPage(): void {
  const next = safeNext(new URLSearchParams(location.search).get('next'));
  const error = h('p', { id: 'login-error', class: 'error', role: 'alert' });
  const form = h(
    'form',
    { id: 'login-form', method: 'post', action: '/user/login/' },
    h('h1', { text: 'EXACT — log in' }),
    h('label', {}, 'Username', h('input', { name: 'username', id: 'id_username', autocomplete: 'username', required: true, autofocus: true })),
    h('label', {}, 'Password', h('input', { name: 'password', id: 'id_password', type: 'password', autocomplete: 'current-password', required: true })),
    h('button', { type: 'submit', text: 'Log in' }),
    error,
  );
  byId('app').replaceChildren(h('main', { class: 'login' }, form));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    error.textContent = '';
    api
      .login(String(data.get('username') ?? ''), String(data.get('password') ?? ''))
      .then(() => location.assign(next))
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError ? err.detail : String(err);
      });
  });
}
