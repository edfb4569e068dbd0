// Tiny DOM helpers shared by the pages (no framework: the pages are few and the hot path is a
// canvas anyway).

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | null | undefined> = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
}

/** A short-lived message at the top of the page (others' edits, saves, errors). */
export function toast(text: string, kind: 'info' | 'error' = 'info', ms = 4000): void {
  let box = document.getElementById('toasts');
  if (!box) {
    box = h('div', { id: 'toasts' });
    document.body.appendChild(box);
  }
  const t = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', text });
  box.appendChild(t);
  setTimeout(() => t.remove(), ms);
}

/** Whether a key event belongs to a text field rather than the viewer's shortcuts. */
export function typing(e: KeyboardEvent): boolean {
  const t = e.target as HTMLElement | null;
  if (!t) return false;
  // Sliders, check boxes and buttons take no letters: the viewer's keys keep working on them.
  if (t instanceof HTMLInputElement) return !['range', 'checkbox', 'radio', 'button', 'submit'].includes(t.type);
  return t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable;
}

export function pageId(): number {
  return Number(document.body.dataset.id ?? '0');
}
