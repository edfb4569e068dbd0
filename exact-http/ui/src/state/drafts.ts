// Unsaved drawings survive a trip to the login page, a reload or a failed save: every change
// is mirrored into localStorage under the image, and restored when the viewer opens it again.

import type { Id } from '../api/types';

export interface Draft {
  /** Local key, negative so it never collides with a server id. */
  key: number;
  type: Id;
  coords: number[];
  /** The server's reason the last save failed, if it did. */
  error?: string;
}

const storeKey = (image: Id) => `exact-drafts-${image}`;

export function loadDrafts(image: Id): Draft[] {
  try {
    const raw = localStorage.getItem(storeKey(image));
    const parsed: unknown = raw ? JSON.parse(raw) : [];
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (d): d is Draft =>
        d && typeof d.key === 'number' && typeof d.type === 'number' && Array.isArray(d.coords),
    );
  } catch {
    return [];
  }
}

export function saveDrafts(image: Id, drafts: Draft[]): void {
  try {
    if (drafts.length) localStorage.setItem(storeKey(image), JSON.stringify(drafts));
    else localStorage.removeItem(storeKey(image));
  } catch {
    // A full or disabled storage only loses the persistence; the drafts stay on screen.
  }
}

let next = -1;
export function draftKey(): number {
  next -= 1;
  return -Date.now() * 100 + next;
}
