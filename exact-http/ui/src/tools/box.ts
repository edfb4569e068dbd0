// Bounding box (vector type 1) and point (type 2, drawn as an ellipse): a drag spans the shape,
// a click places one of the type's default size centred on the click.

import { type Coords, centred, rect } from '../viewer/geometry';
import type { Tool, ToolEnv } from './tool';

export class BoxTool implements Tool {
  readonly closed = true;
  private start: [number, number] | null = null;
  private end: [number, number] | null = null;

  constructor(private readonly env: ToolEnv) {}

  down(x: number, y: number): void {
    this.start = [x, y];
    this.end = [x, y];
  }

  move(x: number, y: number, pressed: boolean): void {
    if (pressed && this.start) this.end = [x, y];
  }

  up(x: number, y: number, click: boolean): Coords | null {
    const s = this.start;
    this.start = null;
    this.end = null;
    if (!s) return null;
    if (click) return centred(x, y, this.env.type.default_width, this.env.type.default_height);
    return rect(s[0], s[1], x, y);
  }

  finish(): Coords | null {
    return null;
  }

  sketch(): Coords | null {
    if (!this.start || !this.end) return null;
    return rect(this.start[0], this.start[1], this.end[0], this.end[1]);
  }

  restore(): void {}
}
