// Vectors as flat coordinate arrays (x0, y0, x1, y1, …) and the measurements the side panel
// and ruler show. Boxes, points (ellipses) and lines are stored as their two corner nodes.

import type { VectorJson } from '../api/types';
import { VectorType } from '../api/types';

export type Coords = Float64Array;

export interface BBox {
  minX: number;
  minY: number;
  maxX: number;
  maxY: number;
}

export function fromJson(v: VectorJson | null): Coords | null {
  if (!v) return null;
  const out: number[] = [];
  for (let n = 1; `x${n}` in v && `y${n}` in v; n++) out.push(Number(v[`x${n}`]), Number(v[`y${n}`]));
  return out.length ? Float64Array.from(out) : null;
}

export function toJson(c: Coords): VectorJson {
  const v: VectorJson = {};
  for (let i = 0; i < c.length / 2; i++) {
    v[`x${i + 1}`] = Math.round(c[2 * i]);
    v[`y${i + 1}`] = Math.round(c[2 * i + 1]);
  }
  return v;
}

export function bboxOf(c: Coords): BBox {
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < c.length; i += 2) {
    minX = Math.min(minX, c[i]);
    maxX = Math.max(maxX, c[i]);
    minY = Math.min(minY, c[i + 1]);
    maxY = Math.max(maxY, c[i + 1]);
  }
  return { minX, minY, maxX, maxY };
}

/** Two-corner shapes: the vector's nodes are a box's top-left and bottom-right. */
export function isRectLike(t: number): boolean {
  return t === VectorType.Box || t === VectorType.FixedBox || t === VectorType.Point;
}

/** A box from two arbitrary corners, ordered top-left then bottom-right. */
export function rect(x0: number, y0: number, x1: number, y1: number): Coords {
  return Float64Array.of(Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1));
}

export function centred(x: number, y: number, w: number, h: number): Coords {
  return Float64Array.of(x - w / 2, y - h / 2, x + w / 2, y + h / 2);
}

export function translate(c: Coords, dx: number, dy: number): Coords {
  const out = Float64Array.from(c);
  for (let i = 0; i < out.length; i += 2) {
    out[i] += dx;
    out[i + 1] += dy;
  }
  return out;
}

export function pathLength(c: Coords, closed: boolean): number {
  let len = 0;
  const n = c.length / 2;
  for (let i = 1; i < n; i++) len += Math.hypot(c[2 * i] - c[2 * i - 2], c[2 * i + 1] - c[2 * i - 1]);
  if (closed && n > 2) len += Math.hypot(c[0] - c[2 * n - 2], c[1] - c[2 * n - 1]);
  return len;
}

/** Shoelace area of a polygon, in square pixels. */
export function polygonArea(c: Coords): number {
  let a = 0;
  const n = c.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    a += c[2 * i] * c[2 * j + 1] - c[2 * j] * c[2 * i + 1];
  }
  return Math.abs(a) / 2;
}

export function pointInPolygon(c: Coords, x: number, y: number): boolean {
  let inside = false;
  const n = c.length / 2;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = c[2 * i];
    const yi = c[2 * i + 1];
    const xj = c[2 * j];
    const yj = c[2 * j + 1];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

export function distToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const l2 = dx * dx + dy * dy;
  const t = l2 ? Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / l2)) : 0;
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

export function distToPath(c: Coords, x: number, y: number, closed: boolean): number {
  let d = Infinity;
  const n = c.length / 2;
  for (let i = 1; i < n; i++) d = Math.min(d, distToSegment(x, y, c[2 * i - 2], c[2 * i - 1], c[2 * i], c[2 * i + 1]));
  if (closed && n > 2) d = Math.min(d, distToSegment(x, y, c[2 * n - 2], c[2 * n - 1], c[0], c[1]));
  if (n === 1) d = Math.hypot(x - c[0], y - c[1]);
  return d;
}

/** A length in level-0 pixels as µm (or px when the image has no mpp). */
export function formatLength(px: number, mpp: number): string {
  if (mpp > 0) {
    const um = px * mpp;
    return um >= 1000 ? `${(um / 1000).toFixed(3)} mm` : `${um.toFixed(1)} µm`;
  }
  return `${px.toFixed(0)} px`;
}

export function formatArea(px2: number, mpp: number): string {
  if (mpp > 0) {
    const um2 = px2 * mpp * mpp;
    return um2 >= 1e6 ? `${(um2 / 1e6).toFixed(4)} mm²` : `${um2.toFixed(1)} µm²`;
  }
  return `${px2.toFixed(0)} px²`;
}
