// Fixed-size bounding box (vector type 6): always the type's default size, centred where the
// pointer is released; the outline follows the pointer while it is held.

import { type Coords, centred } from '../viewer/geometry';
import type { Tool, ToolEnv } from './tool';

export class FixedBoxTool implements Tool {
  readonly closed = true;
  private at: [number, number] | null = null;

  constructor(private readonly env: ToolEnv) {}

  private box(x: number, y: number): Coords {
    return centred(x, y, this.env.type.default_width, this.env.type.default_height);
  }

  down(x: number, y: number): void {
    this.at = [x, y];
  }

  move(x: number, y: number, pressed: boolean): void {
    if (pressed) this.at = [x, y];
  }

  up(x: number, y: number): Coords | null {
    this.at = null;
    return this.box(x, y);
  }

  finish(): Coords | null {
    return null;
  }

  sketch(): Coords | null {
    return this.at ? this.box(this.at[0], this.at[1]) : null;
  }

  restore(): void {}
}
