// The one canvas over the slide. Every visible annotation is a path added to its type's single
// batch (one stroke per colour per frame), straight from the typed coordinate arrays; nothing
// per annotation lives in the DOM.

import type { AnnotationType, Id } from '../api/types';
import { VectorType } from '../api/types';
import type { Held } from '../state/annotations';
import type { Coords } from './geometry';
import type { Transform } from './osd';
import { hiddenProposal } from './proposals';

/** Two stacked canvases over the slide. `base` holds the annotations of the view and is only
 * repainted when the view moves or what is held changes (and a new annotation is just added to
 * it); `top` holds what changes with the pointer — the shape being drawn or dragged, the
 * selection, drafts, the ruler — so a gesture never re-strokes thousands of annotations per
 * move, and a save draws one shape, not the whole view (software rasterisers are slow). */
export class Overlay {
  readonly base: HTMLCanvasElement;
  readonly canvas: HTMLCanvasElement;
  private readonly baseCtx: CanvasRenderingContext2D;
  private readonly ctx: CanvasRenderingContext2D;

  constructor(parent: HTMLElement) {
    this.base = document.createElement('canvas');
    this.base.className = 'exact-overlay';
    this.base.dataset.layer = 'base';
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'exact-overlay';
    this.canvas.dataset.layer = 'top';
    parent.append(this.base, this.canvas);
    const baseCtx = this.base.getContext('2d');
    const ctx = this.canvas.getContext('2d');
    if (!ctx || !baseCtx) throw new Error('no 2d canvas');
    this.ctx = ctx;
    this.baseCtx = baseCtx;
  }

  /** Sizes the top canvas to its box and clears it; returns its context in image coordinates. */
  begin(t: Transform): CanvasRenderingContext2D {
    return prepare(this.canvas, this.ctx, t, true);
  }

  /** The base canvas's context in image coordinates; cleared when `clear` (a full repaint),
   * kept otherwise (shapes added to what it shows). */
  beginBase(t: Transform, clear: boolean): CanvasRenderingContext2D {
    return prepare(this.base, this.baseCtx, t, clear);
  }

  /** The base canvas's size in device pixels (a resize repaints it). */
  baseSize(): string {
    const dpr = window.devicePixelRatio || 1;
    return `${Math.round(this.base.clientWidth * dpr)}x${Math.round(this.base.clientHeight * dpr)}`;
  }
}

function prepare(canvas: HTMLCanvasElement, ctx: CanvasRenderingContext2D, t: Transform, clear: boolean): CanvasRenderingContext2D {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.round(canvas.clientWidth * dpr);
  const h = Math.round(canvas.clientHeight * dpr);
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  if (clear) ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(dpr * t.s, 0, 0, dpr * t.s, dpr * t.ox, dpr * t.oy);
  ctx.lineJoin = 'round';
  return ctx;
}

/** Adds one vector's outline to the current path. */
export function addPath(ctx: CanvasRenderingContext2D, vt: number, c: Coords, closed: boolean): void {
  if (vt === VectorType.Point) {
    const rx = Math.abs(c[2] - c[0]) / 2;
    const ry = Math.abs(c[3] - c[1]) / 2;
    ctx.moveTo(c[0] + 2 * rx, c[1] + ry);
    ctx.ellipse(c[0] + rx, c[1] + ry, Math.max(rx, 0.5), Math.max(ry, 0.5), 0, 0, 2 * Math.PI);
    return;
  }
  if ((vt === VectorType.Box || vt === VectorType.FixedBox) && c.length === 4) {
    ctx.rect(c[0], c[1], c[2] - c[0], c[3] - c[1]);
    return;
  }
  ctx.moveTo(c[0], c[1]);
  for (let i = 2; i < c.length; i += 2) ctx.lineTo(c[i], c[i + 1]);
  if (closed) ctx.closePath();
}

export function isClosed(t: AnnotationType): boolean {
  return t.vector_type === VectorType.Polygon || (t.vector_type === VectorType.MultiLine && t.closed);
}

/** Paths stroked at once: software rasterisers (headless or GPU-less browsers) stroke many
 * modest paths faster than one huge one. */
const CHUNK = 256;

/** Draws the held annotations batched per type, in screen pixels (coordinates transformed here:
 * a scaled canvas transform makes every stroke slower), with a constant line width. */
export function drawBatches(
  ctx: CanvasRenderingContext2D,
  t: Transform,
  items: Held[],
  types: Map<Id, AnnotationType>,
  hidden: Set<Id>,
  skip: Id | null,
): void {
  const groups = new Map<Id, Held[]>();
  for (const h of items) {
    if (!h.coords || hidden.has(h.type) || h.id === skip || hiddenProposal(h.raw)) continue;
    let g = groups.get(h.type);
    if (!g) groups.set(h.type, (g = []));
    g.push(h);
  }
  const dpr = window.devicePixelRatio || 1;
  const s = t.s * dpr;
  const ox = t.ox * dpr;
  const oy = t.oy * dpr;
  ctx.save();
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.lineWidth = 2 * dpr;
  for (const [typeId, group] of groups) {
    const type = types.get(typeId);
    if (!type) continue;
    ctx.strokeStyle = type.color_code;
    const closed = isClosed(type);
    const vt = type.vector_type;
    const boxy = vt === VectorType.Box || vt === VectorType.FixedBox;
    ctx.beginPath();
    let n = 0;
    for (const h of group) {
      const c = h.coords as Coords;
      if (boxy && c.length === 4) {
        const x0 = c[0] * s + ox;
        const y0 = c[1] * s + oy;
        ctx.rect(x0, y0, c[2] * s + ox - x0, c[3] * s + oy - y0);
      } else if (vt === VectorType.Point) {
        const rx = (Math.abs(c[2] - c[0]) / 2) * s;
        const ry = (Math.abs(c[3] - c[1]) / 2) * s;
        const cx = Math.min(c[0], c[2]) * s + ox + rx;
        const cy = Math.min(c[1], c[3]) * s + oy + ry;
        ctx.moveTo(cx + Math.max(rx, 0.5), cy);
        ctx.ellipse(cx, cy, Math.max(rx, 0.5), Math.max(ry, 0.5), 0, 0, 2 * Math.PI);
      } else {
        ctx.moveTo(c[0] * s + ox, c[1] * s + oy);
        for (let i = 2; i < c.length; i += 2) ctx.lineTo(c[i] * s + ox, c[i + 1] * s + oy);
        if (closed) ctx.closePath();
      }
      if (++n % CHUNK === 0) {
        ctx.stroke();
        ctx.beginPath();
      }
    }
    ctx.stroke();
  }
  ctx.restore();
}

/** The selected (or in-progress) shape, emphasised, with its handles. */
export function drawShape(
  ctx: CanvasRenderingContext2D,
  s: number,
  t: AnnotationType,
  c: Coords,
  opts: { dashed?: boolean; handles?: boolean; error?: boolean; closed?: boolean },
): void {
  ctx.save();
  ctx.lineWidth = 3 / s;
  ctx.strokeStyle = opts.error ? '#ff3030' : t.color_code;
  if (opts.dashed) ctx.setLineDash([8 / s, 6 / s]);
  ctx.beginPath();
  addPath(ctx, t.vector_type, c, opts.closed ?? isClosed(t));
  ctx.stroke();
  ctx.setLineDash([]);
  if (opts.handles) {
    const r = 5 / s;
    ctx.fillStyle = '#fff';
    ctx.strokeStyle = '#222';
    ctx.lineWidth = 1 / s;
    for (const [x, y] of handles(t.vector_type, c)) {
      ctx.fillRect(x - r, y - r, 2 * r, 2 * r);
      ctx.strokeRect(x - r, y - r, 2 * r, 2 * r);
    }
  }
  ctx.restore();
}

/** Editable handles: a box's four corners, a vector's nodes otherwise. */
export function handles(vt: number, c: Coords): [number, number][] {
  if ((vt === VectorType.Box || vt === VectorType.FixedBox || vt === VectorType.Point) && c.length === 4) {
    if (vt === VectorType.FixedBox) return [];
    return [
      [c[0], c[1]],
      [c[2], c[1]],
      [c[2], c[3]],
      [c[0], c[3]],
    ];
  }
  const out: [number, number][] = [];
  for (let i = 0; i < c.length; i += 2) out.push([c[i], c[i + 1]]);
  return out;
}

export function drawRuler(ctx: CanvasRenderingContext2D, s: number, c: Coords, label: string): void {
  ctx.save();
  ctx.strokeStyle = '#ffeb3b';
  ctx.lineWidth = 2 / s;
  ctx.beginPath();
  ctx.moveTo(c[0], c[1]);
  ctx.lineTo(c[2], c[3]);
  ctx.stroke();
  ctx.font = `${14 / s}px sans-serif`;
  ctx.fillStyle = '#ffeb3b';
  ctx.fillText(label, c[2] + 6 / s, c[3] - 6 / s);
  ctx.restore();
}
