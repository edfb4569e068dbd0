// Select-mode geometry: which annotation or handle is under the pointer, and what a drag does
// to a shape (move it, move a box corner, move a vertex).

import type { AnnotationType, Id } from '../api/types';
import { VectorType } from '../api/types';
import type { AnnotationStore, Held } from '../state/annotations';
import { hiddenProposal } from '../viewer/proposals';
import {
  type Coords,
  distToPath,
  isRectLike,
  pointInPolygon,
  rect,
  translate,
} from '../viewer/geometry';
import { handles, isClosed } from '../viewer/overlay';

/** Screen pixels within which a pointer touches an outline or handle. */
export const TOLERANCE = 8;

export type Grip = { kind: 'move' } | { kind: 'handle'; index: number };

function contains(t: AnnotationType, c: Coords, x: number, y: number, tol: number): boolean {
  const vt = t.vector_type;
  if (vt === VectorType.Point && c.length === 4) {
    const rx = Math.max((c[2] - c[0]) / 2, 1e-9);
    const ry = Math.max((c[3] - c[1]) / 2, 1e-9);
    const dx = (x - (c[0] + rx)) / (rx + tol);
    const dy = (y - (c[1] + ry)) / (ry + tol);
    return dx * dx + dy * dy <= 1;
  }
  if ((vt === VectorType.Box || vt === VectorType.FixedBox) && c.length === 4) {
    return x >= c[0] - tol && x <= c[2] + tol && y >= c[1] - tol && y <= c[3] + tol;
  }
  const closed = isClosed(t);
  if (closed && pointInPolygon(c, x, y)) return true;
  return distToPath(c, x, y, closed) <= tol;
}

/** The topmost (smallest) visible annotation under level-0 point (x, y). */
export function hitTest(
  store: AnnotationStore,
  types: Map<Id, AnnotationType>,
  hidden: Set<Id>,
  x: number,
  y: number,
  s: number,
): Held | null {
  const tol = TOLERANCE / s;
  let best: Held | null = null;
  let bestArea = Infinity;
  for (const h of store.search({ minX: x - tol, minY: y - tol, maxX: x + tol, maxY: y + tol })) {
    const t = types.get(h.type);
    if (!t || !h.coords || hidden.has(h.type) || hiddenProposal(h.raw)) continue;
    if (!contains(t, h.coords, x, y, tol)) continue;
    const area = (h.maxX - h.minX) * (h.maxY - h.minY);
    if (area < bestArea) {
      best = h;
      bestArea = area;
    }
  }
  return best;
}

/** The handle of a selected shape under the pointer, if any. */
export function handleAt(t: AnnotationType, c: Coords, x: number, y: number, s: number): number | null {
  const tol = TOLERANCE / s;
  const hs = handles(t.vector_type, c);
  for (let i = 0; i < hs.length; i++) if (Math.abs(hs[i][0] - x) <= tol && Math.abs(hs[i][1] - y) <= tol) return i;
  return null;
}

/** The shape after dragging `grip` from (x0, y0) to (x, y). */
export function dragged(t: AnnotationType, c: Coords, grip: Grip, x0: number, y0: number, x: number, y: number): Coords {
  if (grip.kind === 'move') return translate(c, x - x0, y - y0);
  if (isRectLike(t.vector_type) && c.length === 4) {
    // The corner opposite the dragged one stays put.
    const corners: [number, number][] = [
      [c[0], c[1]],
      [c[2], c[1]],
      [c[2], c[3]],
      [c[0], c[3]],
    ];
    const [ox, oy] = corners[(grip.index + 2) % 4];
    return rect(ox, oy, x, y);
  }
  const out = Float64Array.from(c);
  out[2 * grip.index] = x;
  out[2 * grip.index + 1] = y;
  return out;
}

/** Whether two vector types can take each other's geometry (relabelling keeps the vector). */
export function compatible(a: number, b: number): boolean {
  const family = (v: number) =>
    v === VectorType.Box || v === VectorType.FixedBox || v === VectorType.Point
      ? 'rect'
      : v === VectorType.Line || v === VectorType.MultiLine
        ? 'line'
        : v === VectorType.Polygon
          ? 'poly'
          : 'global';
  return family(a) === family(b);
}
