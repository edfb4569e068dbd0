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

  upsert(a: Annotation): Held | null {
    // Re-fetching an overlapping view returns mostly what is held: unchanged ones cost nothing.
    const old = this.byId.get(a.id);
    if (old?.raw && !a.deleted && old.raw.last_edit_time === a.last_edit_time && old.raw.deleted === a.deleted && old.raw.annotation_type === a.annotation_type && old.raw.description === a.description && sameVector(old.raw, a)) {
      return old;
    }
    this.remove(a.id);
    if (a.deleted) {
      this.version++;
      return null;
    }
    const coords = fromJson(a.vector);
    const b = coords ? bboxOf(coords) : { minX: 0, minY: 0, maxX: 0, maxY: 0 };
    const h: Held = { ...b, id: a.id, type: a.annotation_type, coords, raw: a };
    this.byId.set(a.id, h);
    if (coords) this.tree.insert(h);
    this.version++;
    return h;
  }

  remove(id: Id): void {
    const old = this.byId.get(id);
    if (!old) return;
    this.byId.delete(id);
    if (old.coords) this.tree.remove(old);
    this.version++;
  }

  clear(): void {
    this.tree.clear();
    this.byId.clear();
    this.version++;
  }

  search(b: BBox): Held[] {
    return this.tree.search(b);
  }

  get size(): number {
    return this.byId.size;
  }
}
