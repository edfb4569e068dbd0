// Screening mode (EXACT.md §5): the slide cut into a grid of cells (default 350 px); a/w/s/d
// mark the current cell screened and move left/up/down/right. Progress is the server's
// screening mode of this user and image, so it resumes in another browser; it is drawn on the
// navigator.

import OpenSeadragon from 'openseadragon';
import { ApiError, api } from '../api/client';
import type { ScreeningMode } from '../api/types';
import { h, toast } from './dom';
import type { ViewerPage } from './viewer';

export class Screening {
  private mode: ScreeningMode | null = null;
  private readonly size = h('input', { id: 'screening-size', type: 'number', min: 32, max: 100000, value: 350 });
  private readonly status = h('span', { id: 'screening-status', text: 'off' });
  private navCanvas: HTMLCanvasElement | null = null;

  constructor(private readonly page: ViewerPage) {
    const start = h('button', { type: 'button', id: 'screening-start', text: 'Start / resume' });
    start.addEventListener('click', () => void this.start());
    page.panel.mountScreening(h('div', { class: 'screening' }, h('label', {}, 'cell px ', this.size), start, this.status));
  }

  get active(): boolean {
    return this.mode !== null;
  }

  async start(): Promise<void> {
    const px = Math.max(32, Math.round(Number(this.size.value) || 350));
    try {
      this.mode = await api.openScreening(this.page.image.id, px, px);
      if (!this.mode.screening_tiles || typeof this.mode.screening_tiles !== 'object') this.mode.screening_tiles = {};
      this.size.value = String(this.mode.x_resolution);
      // Opening the grid shows (and so screens) the cell the user was at.
      await this.go(this.mode.current_index);
    } catch (e) {
      toast(`Screening not started: ${e instanceof ApiError ? e.detail : String(e)}`, 'error');
    }
  }

  private cell(i: number): { minX: number; minY: number; maxX: number; maxY: number } {
    const m = this.mode as ScreeningMode;
    const cx = i % m.x_steps;
    const cy = Math.floor(i / m.x_steps);
    return {
      minX: cx * m.x_resolution,
      minY: cy * m.y_resolution,
      maxX: Math.min((cx + 1) * m.x_resolution, this.page.image.width),
      maxY: Math.min((cy + 1) * m.y_resolution, this.page.image.height),
    };
  }

  private async go(i: number): Promise<void> {
    const m = this.mode;
    if (!m) return;
    this.page.view.fitImageRect(this.cell(i));
    const saved = await api.advanceScreening(m.id, i);
    this.mode = saved;
    const done = Object.values(saved.screening_tiles ?? {}).filter((t) => t.Screened).length;
    this.status.textContent = `cell ${i + 1} of ${saved.x_steps * saved.y_steps}, ${done} screened`;
    this.page.redraw();
  }

  /** a/w/s/d while screening; returns whether the key was used. */
  key(e: KeyboardEvent): boolean {
    const m = this.mode;
    if (!m) return false;
    const cx = m.current_index % m.x_steps;
    const cy = Math.floor(m.current_index / m.x_steps);
    const moves: Record<string, [number, number]> = { a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1] };
    const mv = moves[e.key];
    if (!mv) return false;
    e.preventDefault();
    const nx = Math.min(Math.max(cx + mv[0], 0), m.x_steps - 1);
    const ny = Math.min(Math.max(cy + mv[1], 0), m.y_steps - 1);
    void this.go(ny * m.x_steps + nx).catch((err: unknown) =>
      toast(`Screening progress not saved: ${err instanceof ApiError ? err.detail : String(err)}`, 'error'),
    );
    return true;
  }

  /** Screened cells (green) and the current one (yellow) on the navigator. */
  paint(): void {
    const m = this.mode;
    const nav = this.page.view.osd.navigator;
    if (!m || !nav) return;
    if (!this.navCanvas) {
      this.navCanvas = h('canvas', { class: 'nav-progress', id: 'screening-progress' });
      // Inside the navigator's drawing area (positioned, clipped), above its slide canvas.
      nav.canvas.appendChild(this.navCanvas);
    }
    const c = this.navCanvas;
    const w = nav.canvas.clientWidth;
    const hgt = nav.canvas.clientHeight;
    c.width = w;
    c.height = hgt;
    const ctx = c.getContext('2d');
    const item = nav.world.getItemAt(0);
    if (!ctx || !item) return;
    const p0 = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const p1 = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(this.page.image.width, this.page.image.height));
    const sx = (p1.x - p0.x) / this.page.image.width;
    const sy = (p1.y - p0.y) / this.page.image.height;
    ctx.clearRect(0, 0, w, hgt);
    const fill = (i: number, colour: string) => {
      const b = this.cell(i);
      ctx.fillStyle = colour;
      ctx.fillRect(p0.x + b.minX * sx, p0.y + b.minY * sy, (b.maxX - b.minX) * sx, (b.maxY - b.minY) * sy);
    };
    for (const [k, t] of Object.entries(m.screening_tiles ?? {})) if (t.Screened) fill(Number(k), 'rgba(0,200,0,0.35)');
    fill(m.current_index, 'rgba(255,220,0,0.5)');
  }
}
