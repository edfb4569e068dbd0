// What the management pages share: the top bar with navigation, forms whose server errors land
// next to the field that caused them, and the few API shapes the viewer does not need.

import { ApiError, api, request } from '../../api/client';
import type { Id, User } from '../../api/types';
import { h } from '../dom';

export interface Team {
  id: Id;
  name: string;
  members: Id[];
  memberships: Id[];
  image_sets: Id[];
  product_set: Id[];
}

export interface Membership {
  id: Id;
  is_admin: boolean;
  team: Id;
  user: Id;
}

export interface Product {
  id: Id;
  name: string;
  description: string;
  team: Id | null;
  imagesets: Id[];
  annotationtype_set: Id[];
}

export interface SetFull {
  id: Id;
  name: string;
  description: string;
  location: string;
  images: Id[];
  product_set: Id[];
  set_tags: Id[];
  team: Id | null;
  priority: number;
  pinned?: boolean;
  image_lock: boolean;
  collaboration_type: number;
  time: string;
}

export interface SetTag {
  id: Id;
  name: string;
  imagesets: Id[];
}

export interface FullUser extends User {
  is_active?: boolean;
  last_login?: string | null;
  team_set?: Id[];
}

export const A = '/api/v1';

/** `GET` of every item of a list endpoint (one page of up to 10000). */
export async function all<T>(url: string): Promise<T[]> {
  const sep = url.includes('?') ? '&' : '?';
  const page = await request<{ results: T[] }>('GET', `${url}${sep}limit=10000`);
  return page.results;
}

/** The page frame: top bar (navigation, who is logged in, log out) and a main element. */
export async function frame(title: string, crumbs: [string, string][] = []): Promise<{ me: User; main: HTMLElement }> {
  const me = await api.me();
  document.title = `${title} · EXACT`;
  const logout = h('button', { type: 'button', id: 'logout', text: 'Log out' });
  logout.addEventListener('click', () => void api.logout().finally(() => location.assign('/user/login/')));
  const nav = h(
    'nav',
    { class: 'top', 'aria-label': 'Main' },
    h('a', { class: 'brand', href: '/images/', text: 'EXACT' }),
    h('a', { href: '/images/', text: 'Image sets' }),
    h('a', { href: '/users/account/', text: 'My account' }),
    me.is_superuser ? h('a', { href: '/administration/', text: 'Administration' }) : null,
    h('span', { class: 'grow' }),
    h('span', { id: 'username', text: me.username }),
    logout,
  );
  const main = h('main', { class: 'manage', id: 'main' });
  if (crumbs.length) {
    main.append(
      h(
        'nav',
        { class: 'crumbs', 'aria-label': 'Breadcrumb' },
        ...crumbs.flatMap(([text, href], i) => [i ? ' › ' : '', h('a', { href, text })]),
      ),
    );
  }
  main.append(h('h1', { text: title }));
  document.getElementById('app')?.replaceChildren(nav, main);
  return { me, main };
}

let uid = 0;

/** A labelled input with a slot for the server's reason under it (`data-error-for=name`). */
export function field(
  label: string,
  name: string,
  attrs: Record<string, string | number | boolean | null | undefined> = {},
  control?: HTMLElement,
): HTMLElement {
  const id = `f-${name}-${++uid}`;
  const err = h('span', { class: 'field-error error', 'data-error-for': name, id: `${id}-err`, role: 'alert' });
  const input = control ?? h('input', { name, ...attrs });
  input.id = id;
  input.setAttribute('aria-describedby', err.id);
  if (!input.getAttribute('name')) input.setAttribute('name', name);
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input, err);
}

export function select(name: string, options: [string, string][], value = ''): HTMLSelectElement {
  const s = h('select', { name });
  for (const [v, text] of options) s.append(h('option', { value: v, text, selected: v === value }));
  return s;
}

export function checkbox(label: string, name: string, checked = false): HTMLElement {
  const id = `f-${name}-${++uid}`;
  return h(
    'div',
    { class: 'field check' },
    h('input', { type: 'checkbox', name, id, checked }),
    h('label', { for: id, text: label }),
  );
}

/** Clears a form's error slots. */
export function clearErrors(form: HTMLElement): void {
  for (const e of form.querySelectorAll<HTMLElement>('[data-error-for], .form-error')) e.textContent = '';
  for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
}

/** Shows an error where it belongs: each field error next to its field, the rest at the form. */
export function showError(form: HTMLElement, e: unknown): void {
  const general = form.querySelector<HTMLElement>('.form-error');
  if (!(e instanceof ApiError)) {
    if (general) general.textContent = String(e);
    return;
  }
  let placed = false;
  if (e.body && typeof e.body === 'object') {
    for (const [k, v] of Object.entries(e.body as Record<string, unknown>)) {
      if (k === 'detail') continue;
      const slot = form.querySelector<HTMLElement>(`[data-error-for="${CSS.escape(k)}"]`);
      if (!slot) continue;
      slot.textContent = Array.isArray(v) ? v.map(String).join(' ') : String(v);
      const input = form.querySelector<HTMLElement>(`[name="${CSS.escape(k)}"]`);
      input?.setAttribute('aria-invalid', 'true');
      if (!placed) input?.focus();
      placed = true;
    }
  }
  if (!placed && general) general.textContent = e.detail;
}

/** A form that runs `submit` with its values; errors land next to their fields. */
export function form(
  id: string,
  legend: string,
  children: (HTMLElement | null)[],
  submitText: string,
  submit: (data: FormData, form: HTMLFormElement) => Promise<void>,
): HTMLFormElement {
  const f = h(
    'form',
    { id, class: 'card', 'aria-label': legend, novalidate: true },
    h('h2', { text: legend }),
    ...children,
    h('button', { type: 'submit', text: submitText }),
    h('p', { class: 'form-error error', role: 'alert' }),
  );
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(f);
    const button = f.querySelector<HTMLButtonElement>('button[type=submit]');
    if (button) button.disabled = true;
    submit(new FormData(f), f)
      .catch((e: unknown) => showError(f, e))
      .finally(() => {
        if (button) button.disabled = false;
      });
  });
  return f;
}

/** A button whose action's error is shown right after it. */
export function action(text: string, run: () => Promise<void>, attrs: Record<string, string> = {}): HTMLElement {
  const b = h('button', { type: 'button', text, ...attrs });
  const err = h('span', { class: 'error action-error', role: 'alert' });
  b.addEventListener('click', () => {
    err.textContent = '';
    b.disabled = true;
    run()
      .catch((e: unknown) => {
        err.textContent = e instanceof ApiError ? e.detail : String(e);
      })
      .finally(() => {
        b.disabled = false;
      });
  });
  return h('span', { class: 'action' }, b, err);
}

export function str(d: FormData, k: string): string {
  return String(d.get(k) ?? '').trim();
}

export function num(d: FormData, k: string): number | undefined {
  const s = str(d, k);
  return s === '' ? undefined : Number(s);
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${u[i]}`;
}

/** A table with a caption and header row; `rows` are cells (nodes or text). */
export function table(id: string, caption: string, head: string[], rows: (Node | string)[][]): HTMLTableElement {
  return h(
    'table',
    { id, class: 'grid' },
    h('caption', { text: caption }),
    h('thead', {}, h('tr', {}, ...head.map((t) => h('th', { scope: 'col', text: t })))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))),
  );
}
