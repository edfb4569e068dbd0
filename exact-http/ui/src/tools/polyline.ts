// Polygon (vector type 5) and multi-line (type 4). Clicks add nodes; Enter/v, a click on the
// last node (double click) or, for polygons, on the first node finishes. Pressing and dragging
// from nothing draws freehand: nodes follow the pointer and releasing finishes.

import type { Coords } from '../viewer/geometry';
import type { Tool, ToolEnv } from './tool';

/** Screen pixels within which a click "hits" a node. */
const SNAP = 8;
/** Screen pixels between freehand nodes. */
const STEP = 4;

export class PolyTool implements Tool {
  private nodes: number[] = [];
  private hover: [number, number] | null = null;
  private pressed: [number, number] | null = null;
  private freehand = false;

  constructor(
    private readonly env: ToolEnv,
    readonly closed: boolean,
  ) {}

  private get min(): number {
    const n = this.env.type.node_count;
    return n > 0 ? n : this.closed ? 3 : 2;
  }

  down(x: number, y: number): void {
    this.pressed = [x, y];
    this.freehand = false;
  }

  move(x: number, y: number, pressed: boolean): void {
    this.hover = [x, y];
    if (!pressed || !this.pressed) return;
    const s = this.env.scale();
    if (!this.freehand && this.nodes.length === 0 && this.closed) {
      const [px, py] = this.pressed;
      if (Math.hypot(x - px, y - py) * s > STEP) {
        this.freehand = true;
        this.nodes.push(px, py);
      }
    }
    if (this.freehand) {
      const n = this.nodes.length;
      if (Math.hypot(x - this.nodes[n - 2], y - this.nodes[n - 1]) * s >= STEP) this.nodes.push(x, y);
    }
  }

  up(x: number, y: number, click: boolean): Coords | null {
    this.pressed = null;
    if (this.freehand) {
      this.freehand = false;
      return this.done();
    }
    if (!click) return null;
    const s = this.env.scale();
    const n = this.nodes.length;
    if (n >= 2) {
      const nearLast = Math.hypot(x - this.nodes[n - 2], y - this.nodes[n - 1]) * s < SNAP;
      const nearFirst = this.closed && Math.hypot(x - this.nodes[0], y - this.nodes[1]) * s < SNAP;
      if ((nearLast || nearFirst) && n / 2 >= this.min) return this.done();
      if (nearLast) return null;
    }
    this.nodes.push(x, y);
    return null;
  }

  finish(): Coords | null {
    return this.nodes.length / 2 >= this.min ? this.done() : null;
  }

  private done(): Coords {
    const c = Float64Array.from(this.nodes);
    this.nodes = [];
    return c;
  }

  sketch(): Coords | null {
    if (!this.nodes.length) return null;
    if (this.hover && !this.freehand) return Float64Array.from([...this.nodes, ...this.hover]);
    return Float64Array.from(this.nodes);
  }

  restore(c: number[]): void {
    this.nodes = c.slice();
  }
}
