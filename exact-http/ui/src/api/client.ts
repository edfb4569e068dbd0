// The typed API client: session cookie + CSRF header on unsafe methods, JSON in and out, and
// one place that turns "not logged in" into a trip to the login page (after the caller's
// drafts are saved, see state/drafts.ts).

import type {
  Annotation,
  AnnotationType,
  Counts,
  Id,
  Image,
  ImageSet,
  Page,
  ScreeningMode,
  SlideInformation,
  User,
  Verification,
} from './types';

/** A refused or failed request, with the server's reason as the user should read it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
    readonly body: unknown,
  ) {
    super(detail);
  }
}

/** Called before a 401 sends the browser to the login page (e.g. to persist drafts). */
const beforeLogin: (() => void)[] = [];
export function onBeforeLogin(f: () => void): void {
  beforeLogin.push(f);
}

export function cookie(name: string): string {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return decodeURIComponent(v.join('='));
  }
  return '';
}

export function loginUrl(): string {
  const here = location.pathname + location.search;
  return `/user/login/?next=${encodeURIComponent(here)}`;
}

export function goLogin(): void {
  for (const f of beforeLogin) f();
  location.assign(loginUrl());
}

/** The readable reason of an error body: DRF's `detail`, or the first field error. */
export function reasonOf(body: unknown, status: number): string {
  if (body && typeof body === 'object') {
    const o = body as Record<string, unknown>;
    if (typeof o.detail === 'string') return o.detail;
    for (const [k, v] of Object.entries(o)) {
      if (Array.isArray(v) && v.length) return `${k}: ${String(v[0])}`;
      if (typeof v === 'string') return `${k}: ${v}`;
    }
  }
  return `HTTP ${status}`;
}

export async function request<T>(method: string, url: string, body?: unknown, toLogin = true): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = cookie('csrftoken');
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, `The server cannot be reached (${String(e)}).`, null);
  }
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (res.status === 401 && toLogin) {
    goLogin();
    throw new ApiError(401, 'Your session has ended; please log in again.', parsed);
  }
  if (!res.ok) throw new ApiError(res.status, reasonOf(parsed, res.status), parsed);
  return parsed as T;
}

function qs(params: Record<string, string | number | boolean | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.set(k, String(v));
  return u.toString();
}

const A = '/api/v1';

export const api = {
  me: () => request<User>('GET', `${A}/auth/me/`),
  login: (username: string, password: string) =>
    request<{ user: User; csrftoken: string }>('POST', `${A}/auth/login/`, { username, password }, false),
  logout: () => request<unknown>('POST', `${A}/auth/logout/`),
  /** Self-registration (only where the server runs with `--allow-registration`). */
  register: (username: string, password: string, email: string) =>
    request<User>('POST', `${A}/auth/register/`, { username, password, email }, false),
  user: (id: Id) => request<User>('GET', `${A}/users/users/${id}/`),
  image: (id: Id) => request<Image>('GET', `${A}/images/images/${id}/?omit=annotations`),
  images: (set: Id) =>
    request<Page<Image>>('GET', `${A}/images/images/?${qs({ image_set: set, omit: 'annotations', limit: 10000 })}`),
  imageSet: (id: Id) => request<ImageSet>('GET', `${A}/images/image_sets/${id}/`),
  slideInfo: (id: Id) => request<SlideInformation>('GET', `${A}/images/images/${id}/slide_information/`),
  types: (product: Id) =>
    request<Page<AnnotationType>>('GET', `${A}/annotations/annotation_types/?${qs({ product, limit: 1000 })}`),
  /** `background`: a refresh the user did not ask for, which must not yank them to the login
   * page (their next action will, after saving their work). */
  annotations: (params: Record<string, string | number | boolean | undefined>, background = false) =>
    request<Page<Annotation>>('GET', `${A}/annotations/annotations/?${qs(params)}`, undefined, !background),
  /** How many annotations match, per type, without listing them (the server reads only heads). */
  counts: (params: Record<string, string | number | boolean | undefined>, background = false) =>
    request<Counts>('GET', `${A}/annotations/annotations/counts/?${qs(params)}`, undefined, !background),
  annotation: (id: Id) => request<Annotation>('GET', `${A}/annotations/annotations/${id}/`),
  createAnnotation: (a: Partial<Annotation>) => request<Annotation>('POST', `${A}/annotations/annotations/`, a),
  patchAnnotation: (id: Id, patch: Partial<Annotation>) =>
    request<Annotation>('PATCH', `${A}/annotations/annotations/${id}/`, patch),
  /** The viewer's delete is EXACT's visible soft delete (`deleted: true`), so undo can bring
   * the annotation back with a PATCH; `DELETE` would move it to the trash (gone, 404). */
  deleteAnnotation: (id: Id) =>
    request<Annotation>('PATCH', `${A}/annotations/annotations/${id}/`, { deleted: true }),
  verifications: (params: Record<string, string | number | undefined>) =>
    request<Page<Verification>>('GET', `${A}/annotations/verifications/?${qs(params)}`),
  verify: (annotation: Id, verified: boolean) =>
    request<Verification>('POST', `${A}/annotations/verifications/`, { annotation, verified }),
  /** Model proposals not yet reviewed, lowest score first (the review queue). */
  proposals: (params: Record<string, string | number | undefined>) =>
    request<Page<Annotation>>('GET', `${A}/processing/review/?${qs(params)}`),
  /** Accepts (the proposals become normal annotations) or rejects (soft-deletes) these, atomically. */
  review: (accept: boolean, ids: Id[]) =>
    request<{ ids: Id[] }>('POST', `${A}/processing/review/${accept ? 'accept' : 'reject'}/`, { ids }),
  openScreening: (image: Id, x_resolution: number, y_resolution: number) =>
    request<ScreeningMode>('POST', `${A}/images/screening_modes/`, { image, x_resolution, y_resolution }),
  advanceScreening: (id: Id, current_index: number) =>
    request<ScreeningMode>('PATCH', `${A}/images/screening_modes/${id}/`, { current_index }),
};

/** Usernames by id, fetched once each (for "who did it"). */
const names = new Map<Id, Promise<string>>();
export function username(id: Id | null): Promise<string> {
  if (id === null) return Promise.resolve('someone');
  let p = names.get(id);
  if (!p) {
    p = api.user(id).then(
      (u) => u.username,
      () => `user ${id}`,
    );
    names.set(id, p);
  }
  return p;
}
