// Line (vector type 3): a drag from one end to the other. Also the ruler's gesture.

import type { Coords } from '../viewer/geometry';
import type { Tool } from './tool';

export class LineTool implements Tool {
  readonly closed = false;
  private a: [number, number] | null = null;
  private b: [number, number] | null = null;

  down(x: number, y: number): void {
    this.a = [x, y];
    this.b = [x, y];
  }

  move(x: number, y: number, pressed: boolean): void {
    if (pressed && this.a) this.b = [x, y];
  }

  up(x: number, y: number, click: boolean): Coords | null {
    const a = this.a;
    this.a = null;
    this.b = null;
    if (!a || click) return null;
    return Float64Array.of(a[0], a[1], x, y);
  }

  finish(): Coords | null {
    return null;
  }

  sketch(): Coords | null {
    return this.a && this.b ? Float64Array.of(this.a[0], this.a[1], this.b[0], this.b[1]) : null;
  }

  restore(): void {}
}
