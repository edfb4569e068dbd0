// The annotations the browser currently holds for one image (the viewport's, never necessarily
// all of a big slide), with an R-tree for hit tests and viewport drawing.

import RBush from 'rbush';
import type { Annotation, Id } from '../api/types';
import { type BBox, type Coords, bboxOf, fromJson } from '../viewer/geometry';

export interface Held extends BBox {
  /** Server id; negative for a draft that has not been saved yet. */
  id: Id;
  type: Id;
  coords: Coords | null;
  raw: Annotation | null;
}

function sameVector(a: Annotation, b: Annotation): boolean {
  const va = a.vector;
  const vb = b.vector;
  if (!va || !vb) return va === vb;
  const ka = Object.keys(va);
  if (ka.length !== Object.keys(vb).length) return false;
  for (const k of ka) if (va[k] !== vb[k]) return false;
  return true;
}

export class AnnotationStore {
  private readonly tree = new RBush<Held>();
  readonly byId = new Map<Id, Held>();
  /** Bumped on every change; views re-render when it moves. */
  version = 0;
  /** Since which version only new annotations were added (no edit, removal or clear), and
   * those additions: a view drawn at an earlier version can add them instead of redrawing. */
  private addedFrom = 0;
  private added: Held[] = [];

  /** What was added since `version` when that is all that changed, else null (redraw all). */
  addedSince(version: number): Held[] | null {
    if (version < this.addedFrom) return null;
    if (version === this.version) return [];
    return this.added.slice(this.added.length - (this.version - version));
  }

  /** Anything but a pure addition: views drawn before it must redraw. */
  private changedInPlace(): void {
    this.addedFrom = this.version;
    this.added = [];
  }

  upsert(a: Annotation): Held | null {
    // Re-fetching an overlapping view returns mostly what is held: unchanged ones cost nothing.
    const old = this.byId.get(a.id);
    if (old?.raw && !a.deleted && old.raw.last_edit_time === a.last_edit_time && old.raw.deleted === a.deleted && old.raw.annotation_type === a.annotation_type && old.raw.description === a.description && sameVector(old.raw, a)) {
      return old;
    }
    this.remove(a.id);
    if (a.deleted) {
      this.version++;
      this.changedInPlace();
      return null;
    }
    const coords = fromJson(a.vector);
    const b = coords ? bboxOf(coords) : { minX: 0, minY: 0, maxX: 0, maxY: 0 };
    const h: Held = { ...b, id: a.id, type: a.annotation_type, coords, raw: a };
    this.byId.set(a.id, h);
    if (coords) this.tree.insert(h);
    this.version++;
    if (old || this.added.length >= 20000) this.changedInPlace();
    else this.added.push(h);
    return h;
  }

  remove(id: Id): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    if (old.coords) this.tree.remove(old);
    this.version++;
    this.changedInPlace();
  }

  clear(): void {
    this.tree.clear();
    this.byId.clear();
    this.version++;
    this.changedInPlace();
  }

  search(b: BBox): Held[] {
    return this.tree.search(b);
  }

  get size(): number {
    return this.byId.size;
  }
}
