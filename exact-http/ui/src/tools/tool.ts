// What a drawing tool is: it turns pointer gestures (in level-0 pixels) into one vector. The
// viewer page owns saving; a tool only says when its drawing is finished.

import type { AnnotationType } from '../api/types';
import type { Coords } from '../viewer/geometry';

export interface ToolEnv {
  type: AnnotationType;
  /** Screen pixels per level-0 pixel, for tolerances that should feel the same at any zoom. */
  scale(): number;
}

export interface Tool {
  /** Pointer pressed at a level-0 position. */
  down(x: number, y: number): void;
  /** Pointer moved; `pressed` while a button is held. */
  move(x: number, y: number, pressed: boolean): void;
  /** Pointer released; `click` when it barely moved. Returns the finished vector, if any. */
  up(x: number, y: number, click: boolean): Coords | null;
  /** Enter/v: finish a multi-node drawing. */
  finish(): Coords | null;
  /** The drawing in progress, for the overlay (null when nothing is drawn). */
  sketch(): Coords | null;
  /** Drawn closed (polygons) or open. */
  readonly closed: boolean;
  /** Restores a drawing in progress (after a login round trip). */
  restore(c: number[]): void;
}
