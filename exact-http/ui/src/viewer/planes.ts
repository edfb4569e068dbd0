// Planes of an image (z-stacks, time series, OME-TIFF): which one the viewer shows, from EXACT's
// `?frame=` (and `?z=`) URL parameters, the query that asks the server for its tiles, the frame
// new annotations are saved on, and the small control that steps through them.
//
// Keys: `,` / `.` the previous/next frame, `PageUp` / `PageDown` the z level above/below (on a
// z-only stack `,` / `.` step z too). A step swaps the slide's tiles and the held annotations
// for the new plane's in place, at the same viewport (no page load); the URL follows.

import type { Image } from '../api/types';
import { h } from '../pages/dom';

export interface Plane {
  z: number;
  frame: number;
}

export function hasPlanes(image: Image): boolean {
  return image.depth > 1 || image.frames > 1;
}

/** A 1-based position from the URL, kept within `1..=max`. */
function position(raw: string | null, max: number): number {
  const v = Math.trunc(Number(raw));
  return Number.isFinite(v) && v >= 1 ? Math.min(v, Math.max(1, max)) : 1;
}

export function planeFromUrl(image: Image): Plane {
  const q = new URLSearchParams(location.search);
  return { z: position(q.get('z'), image.depth), frame: position(q.get('frame'), image.frames) };
}

/** `?z=&frame=` for the server's native grid, or nothing for a single-plane image (whose tile
 * URLs stay what they were, cached by the browser and the server's fast tile path). */
export function planeQuery(image: Image, p: Plane): string {
  return hasPlanes(image) ? `?z=${p.z}&frame=${p.frame}` : '';
}

/** The frame an annotation drawn now is saved on and the viewport lists (EXACT keeps one number
 * in the vector): the frame of a time series, the z level of a z-only stack; none otherwise. */
export function annotationFrame(image: Image, p: Plane): number | null {
  if (image.frames > 1) return p.frame;
  if (image.depth > 1) return p.z;
  return null;
}

/** The plane one step from `p` for `key`, or null when the key does not step (or hits an end). */
export function stepFor(image: Image, p: Plane, key: string): Plane | null {
  const by = key === ',' || key === 'PageUp' ? -1 : key === '.' || key === 'PageDown' ? 1 : 0;
  if (!by) return null;
  const zKey = key === 'PageUp' || key === 'PageDown' || image.frames <= 1;
  const next = zKey ? { ...p, z: p.z + by } : { ...p, frame: p.frame + by };
  if (next.z < 1 || next.z > image.depth || next.frame < 1 || next.frame > image.frames) return null;
  return next;
}

/** The control beside the slide: where we are and buttons for each stepping key; `go` shows
 * the plane a button steps to. */
export function planeControl(image: Image, p: Plane, go: (to: Plane) => void): HTMLElement {
  const button = (key: string, text: string, title: string) => {
    const b = h('button', { type: 'button', title, text, 'data-key': key });
    const to = stepFor(image, p, key);
    if (to) b.addEventListener('click', () => go(to));
    else b.setAttribute('disabled', '');
    return b;
  };
  const parts: (HTMLElement | null)[] = [];
  if (image.depth > 1) {
    parts.push(button('PageUp', '▲', 'z level above (PageUp)'), h('span', { id: 'plane-z', text: `z ${p.z}/${image.depth}` }), button('PageDown', '▼', 'z level below (PageDown)'));
  }
  if (image.frames > 1) {
    parts.push(button(',', '◀', 'previous frame (,)'), h('span', { id: 'plane-frame', text: `frame ${p.frame}/${image.frames}` }), button('.', '▶', 'next frame (.)'));
  }
  return h('div', { class: 'planes', id: 'planes' }, ...parts);
}
