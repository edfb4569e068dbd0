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
  // The server marks the shell when it runs with `--allow-registration`.
  if (document.body.dataset.registration === '1') byId('app').querySelector('main')?.append(registerForm(next));
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

/** "Create an account": registers, then logs in with the same name and password. Field errors
 * from the server (`{"username": ["…"]}`) show next to their field. */
function registerForm(next: string): HTMLElement {
  const error = h('p', { id: 'register-error', class: 'error', role: 'alert' });
  const form = h(
    'form',
    { id: 'register-form' },
    h('h2', { text: 'New here? Create an account' }),
    h('label', {}, 'Username', h('input', { name: 'new_username', id: 'id_new_username', autocomplete: 'username', required: true })),
    h('label', {}, 'E-mail (optional)', h('input', { name: 'new_email', id: 'id_new_email', type: 'email', autocomplete: 'email' })),
    h('label', {}, 'Password (8 characters or more)', h('input', { name: 'new_password', id: 'id_new_password', type: 'password', autocomplete: 'new-password', required: true, minlength: 8 })),
    h('button', { type: 'submit', text: 'Create account' }),
    error,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const username = String(data.get('new_username') ?? '');
    const password = String(data.get('new_password') ?? '');
    error.textContent = '';
    api
      .register(username, password, String(data.get('new_email') ?? ''))
      .then(() => api.login(username, password))
      .then(() => location.assign(next))
      .catch((err: unknown) => {
        error.textContent = err instanceof ApiError ? err.detail : String(err);
      });
  });
  return form;
}
