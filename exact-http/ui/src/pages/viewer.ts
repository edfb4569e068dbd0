// `/annotations/<image_id>/`: the slide, its annotations on one canvas, the drawing and editing
// tools and their keys. Loading, the side panel, live updates and screening live in their own
// modules; this one owns the state and turns gestures and keys into API writes.

import { ApiError, api, goLogin, onBeforeLogin, request } from '../api/client';
import type { Annotation, AnnotationType, Id, Image, ImageSet, User, VectorJson } from '../api/types';
import { VectorType } from '../api/types';
import { AnnotationStore } from '../state/annotations';
import { type Draft, draftKey, loadDrafts, saveDrafts } from '../state/drafts';
import { History, type Shape, type Step } from '../state/history';
import { BoxTool } from '../tools/box';
import { FixedBoxTool } from '../tools/fixedbox';
import { LineTool } from '../tools/line';
import { PolyTool } from '../tools/polyline';
import type { Tool } from '../tools/tool';
import { type BBox, type Coords, bboxOf, formatLength, toJson } from '../viewer/geometry';
import {
  type FilterSettings,
  SlideView,
  type Transform,
  magnification,
  scaleBar,
  viewportFromUrl,
  writeViewportToUrl,
} from '../viewer/osd';
import { Overlay, drawBatches, drawRuler, drawShape } from '../viewer/overlay';
import { annotationFrame, hasPlanes, planeControl, planeFromUrl, planeQuery, stepFor, type Plane } from '../viewer/planes';
import { proposalKey } from '../viewer/proposals';
import { h, pageId, toast, typing } from './dom';
import { type Grip, compatible, dragged, handleAt, hitTest } from './editing';
import { Live } from './live';
import { type EarlyCount, Loader, type OverviewVersion, earlyCount } from './loader';
import { Panel } from './panel';
import { Screening } from './screening';

export type Mode = 'select' | 'draw' | 'ruler';

/** What a write did to an annotation (the event stream's `op`). */
export type Change = 'created' | 'updated' | 'deleted';

interface Drag {
  id: Id;
  grip: Grip;
  x0: number;
  y0: number;
  before: Coords;
  now: Coords;
}

/** The pointer gesture in progress (a press not yet released). */
interface Press {
  sx: number;
  sy: number;
  moved: boolean;
  owner: 'tool' | 'ruler' | 'drag' | 'osd';
}

export class ViewerPage {
  readonly store = new AnnotationStore();
  /** Live image-level labels by type. */
  readonly globals = new Map<Id, Annotation>();
  readonly types = new Map<Id, AnnotationType>();
  /** Types in hotkey order (sort_order, then id). */
  ordered: AnnotationType[] = [];
  readonly hidden = new Set<Id>();
  /** Annotations seen deleted (id → edit time): held no more, but known. */
  readonly tombstones = new Map<Id, string>();
  showAnnotations = true;
  mode: Mode = 'select';
  current: AnnotationType | null = null;
  selected: Id | null = null;
  drafts: Draft[] = [];
  readonly history = new History();
  filter: FilterSettings = { brightness: 0, contrast: 1, gamma: 1 };
  ruler: Coords | null = null;
  counts = new Map<Id, number>();
  /** The plane shown (z-stacks, time series): one per page, from the URL. */
  plane: Plane = { z: 1, frame: 1 };

  view!: SlideView;
  overlay!: Overlay;
  panel!: Panel;
  loader!: Loader;
  screening!: Screening;
  private tool: Tool | null = null;
  private press: Press | null = null;
  private drag: Drag | null = null;
  private rulerTool = new LineTool();
  private frame = 0;
  /** What the base layer shows: the view and settings it was drawn for, and the store's
   * version then (see paintBase). */
  private baseKey = '';
  private baseVersion = -1;
  private hudText = '';
  private readyAfterPaint = false;
  private wasReady = false;
  private readonly hud = h('div', { class: 'hud', id: 'hud' });
  private readonly errors = h('div', { class: 'draft-errors' });

  constructor(
    readonly me: User,
    readonly image: Image,
    readonly set: ImageSet,
    readonly siblings: Image[],
  ) {}

  // ---- setup -------------------------------------------------------------------------------

  /** `view` and `generation` were started by `viewerPage` while the set and types loaded. */
  async start(types: AnnotationType[], view: SlideView, generation: Promise<OverviewVersion | null>, early: EarlyCount | null = null): Promise<void> {
    this.plane = planeFromUrl(this.image);
    for (const t of types) this.types.set(t.id, t);
    this.ordered = [...types].sort((a, b) => a.sort_order - b.sort_order || a.id - b.id);
    this.current = this.ordered.find((t) => t.vector_type !== VectorType.Global) ?? this.ordered[0] ?? null;
    const main = document.getElementById('viewer') as HTMLElement;
    this.view = view;
    this.panel = new Panel(this);
    this.loader = new Loader(this, generation, early);
    this.screening = new Screening(this);
    await this.view.opened;
    performance.mark('exact:slide-open');
    const osd = this.view.osd;
    this.overlay = new Overlay(osd.canvas);
    osd.canvas.appendChild(this.errors);
    main.appendChild(this.hud);
    const restore = viewportFromUrl();
    if (restore) this.view.fitImageRect(restore, true);
    // OpenSeadragon fires this inside its own animation frame, after moving the tiles: the
    // overlay is painted in the same frame (no lag behind the slide, no second frame).
    osd.addHandler('update-viewport', () => this.paintNow());
    // Dragging ends many short animations: settle once the view has been still for a moment
    // (fewer viewport queries, and history.replaceState stays under the browser's rate limit).
    let settle = 0;
    // A moving view is not complete until it settles and what it needs is loaded and drawn.
    osd.addHandler('animation-start', () => this.notReady());
    osd.addHandler('animation-finish', () => {
      clearTimeout(settle);
      settle = window.setTimeout(() => this.settled(), 120);
    });
    this.watchSlide();
    osd.addHandler('resize', () => this.redraw());
    this.bindPointer(main);
    document.addEventListener('keydown', (e) => this.key(e));
    onBeforeLogin(() => this.persist());
    window.addEventListener('beforeunload', () => this.persist());
    this.restoreDrafts();
    this.setTool();
    this.panel.render();
    await this.loader.start();
    new Live(this).start();
    this.settled();
    this.updateReady();
    // A small, stable hook for debugging from the console and for the end-to-end tests.
    (window as unknown as { exact: unknown }).exact = {
      toScreen: (x: number, y: number) => this.view.toScreen(x, y),
      toImage: (x: number, y: number) => this.view.toImage(x, y),
      selected: () => this.selected,
      held: () => [...this.store.byId.keys()],
      drafts: () => this.drafts.length,
      shown: () => this.showAnnotations,
    };
    document.body.dataset.ready = '1';
  }

  private watchSlide(): void {
    this.view.tiled.addHandler('fully-loaded-change', () => this.updateReady());
  }

  /** Another plane of the stack, in place: the slide's tiles, the held annotations and the
   * overview tiles become the plane's, the viewport and everything unsaved stay, the URL
   * follows (replaceState: stepping through planes does not fill the history). */
  async showPlane(to: Plane): Promise<void> {
    if (to.z === this.plane.z && to.frame === this.plane.frame) return;
    this.persist();
    this.plane = to;
    this.notReady();
    document.getElementById('planes')?.replaceWith(planeControl(this.image, to, (p) => void this.showPlane(p)));
    writeViewportToUrl(this.view.visible(false), to);
    this.select(null);
    this.store.clear();
    this.redraw();
    const swapped = this.view.showPlane(planeQuery(this.image, to));
    await this.loader.planeChanged();
    await swapped;
    if (this.plane !== to) return;
    this.watchSlide();
    this.panel.changed();
    this.updateReady();
  }

  /** `window.exactViewerReady` (ui-contract.md §3): the view is interactive and complete — its
   * slide tiles are loaded and its annotations drawn (vectors, or overview tiles when crowded). */
  updateReady(): void {
    const ready = this.view.tiled.getFullyLoaded() && this.loader.complete(this.visibleBox());
    // Ready means drawn: with a paint still scheduled, the flag is raised by that paint, so
    // whoever waits for it (a user's eye, a test, the benchmark) sees the finished frame.
    if (ready && this.frame) {
      this.readyAfterPaint = true;
      return;
    }
    (window as unknown as { exactViewerReady: boolean }).exactViewerReady = ready;
    if (ready && !this.wasReady) {
      this.wasReady = true;
      performance.mark('exact:ready');
    }
  }

  private notReady(): void {
    (window as unknown as { exactViewerReady: boolean }).exactViewerReady = false;
  }

  /** After a pan/zoom ends: the URL follows, annotations of the new viewport are fetched. */
  private settled(): void {
    const b = this.view.visible(false);
    writeViewportToUrl(b, hasPlanes(this.image) ? this.plane : null);
    void this.loader.viewport(b).then(() => this.updateReady());
    this.redraw();
  }

  // ---- drawing -----------------------------------------------------------------------------

  redraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.paint();
    });
  }

  private paintNow(): void {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    this.paint();
  }

  private paint(): void {
    const t = this.view.transform();
    this.paintBase(t);
    const ctx = this.overlay.begin(t);
    const sel = this.selected !== null ? this.store.byId.get(this.selected) : undefined;
    const selType = sel ? this.types.get(sel.type) : undefined;
    // The selection (where it is being dragged to) with its handles, over either layer.
    if (sel?.coords && selType) {
      const c = this.drag && this.drag.id === sel.id ? this.drag.now : sel.coords;
      drawShape(ctx, t.s, selType, c, { handles: true });
    }
    for (const d of this.drafts) {
      const dt = this.types.get(d.type);
      if (dt) drawShape(ctx, t.s, dt, Float64Array.from(d.coords), { dashed: true, error: !!d.error });
    }
    const sketch = this.tool?.sketch();
    if (sketch && this.current) drawShape(ctx, t.s, this.current, sketch, { dashed: true, closed: this.tool?.closed });
    if (this.ruler) drawRuler(ctx, t.s, this.ruler, formatLength(Math.hypot(this.ruler[2] - this.ruler[0], this.ruler[3] - this.ruler[1]), this.image.mpp));
    this.screening.paint();
    if (this.readyAfterPaint) {
      this.readyAfterPaint = false;
      this.updateReady();
    }
    this.positionErrors(t.s, t.ox, t.oy);
    // The read-outs change rarely while panning: the DOM is only touched when they do.
    const bar = scaleBar(this.image.mpp, t.s);
    const mag = magnification(this.image, t.s);
    const mode = `${this.mode}${this.current ? ` · ${this.current.name}` : ''}`;
    const hud = `${mag}|${bar ? `${bar.px.toFixed(0)}|${bar.label}` : ''}|${mode}`;
    if (hud === this.hudText) return;
    this.hudText = hud;
    const parts: HTMLElement[] = [h('span', { class: 'mag', id: 'magnification', text: mag })];
    if (bar) parts.push(h('span', { class: 'scalebar', id: 'scalebar', style: `width:${bar.px.toFixed(0)}px`, text: bar.label }));
    parts.push(h('span', { class: 'mode', id: 'mode', text: mode }));
    this.hud.replaceChildren(...parts);
  }

  private vectorsShown(): boolean {
    return this.showAnnotations && !this.loader.showingOverview;
  }

  /** The base layer: the held annotations of the view. Redrawn in full only when the view,
   * the visibility or the held set changed otherwise than by additions; additions (a save, a
   * colleague's new annotation) are stroked on top of what it shows. */
  private paintBase(t: Transform): void {
    const on = this.vectorsShown();
    const key = `${t.s}|${t.ox}|${t.oy}|${this.overlay.baseSize()}|${on}|${[...this.hidden].join(',')}|${this.drag?.id ?? ''}|${proposalKey()}`;
    // Many additions (a viewport's page arriving) are drawn as a full repaint, in one go.
    let added = key === this.baseKey ? this.store.addedSince(this.baseVersion) : null;
    if (added && added.length > 64) added = null;
    this.baseVersion = this.store.version;
    if (added && !added.length) return;
    this.baseKey = key;
    const ctx = this.overlay.beginBase(t, !added);
    if (!on) {
      (window as unknown as { inView: number }).inView = 0;
      return;
    }
    const b = this.view.visible(true);
    const items = added ? added.filter((x) => x.maxX >= b.minX && x.minX <= b.maxX && x.maxY >= b.minY && x.minY <= b.maxY) : this.store.search(b);
    const skip = this.drag ? this.drag.id : null;
    drawBatches(ctx, t, items, this.types, this.hidden, skip);
    const shown = window as unknown as { inView: number };
    shown.inView = added ? shown.inView + items.length : items.length;
  }

  /** Failed saves show their reason next to the drawing, where the user acted. */
  private positionErrors(s: number, ox: number, oy: number): void {
    const failed = this.drafts.filter((d) => d.error);
    if (!failed.length && !this.errors.firstChild) return;
    this.errors.replaceChildren(
      ...failed.map((d) => {
        const b = bboxOf(Float64Array.from(d.coords));
        const el = h('div', { class: 'draft-error', role: 'alert', text: `Not saved: ${d.error} (Enter retries, Esc discards)` });
        el.style.left = `${(b.minX * s + ox).toFixed(0)}px`;
        el.style.top = `${(b.maxY * s + oy + 6).toFixed(0)}px`;
        return el;
      }),
    );
  }

  // ---- tools and modes ---------------------------------------------------------------------

  private setTool(): void {
    const t = this.current;
    this.tool = null;
    if (!t) return;
    const env = { type: t, scale: () => this.view.transform().s };
    switch (t.vector_type) {
      case VectorType.Box:
      case VectorType.Point:
        this.tool = new BoxTool(env);
        break;
      case VectorType.FixedBox:
        this.tool = new FixedBoxTool(env);
        break;
      case VectorType.Line:
        this.tool = new LineTool();
        break;
      case VectorType.MultiLine:
        this.tool = new PolyTool(env, false);
        break;
      case VectorType.Polygon:
        this.tool = new PolyTool(env, true);
        break;
      default:
        this.tool = null;
    }
  }

  chooseType(t: AnnotationType): void {
    this.current = t;
    this.setTool();
    this.panel.render();
    this.redraw();
  }

  setMode(m: Mode): void {
    this.mode = m;
    this.press = null;
    this.drag = null;
    this.setTool();
    if (m !== 'select') this.select(null);
    document.body.dataset.mode = m;
    this.panel.render();
    this.redraw();
  }

  select(id: Id | null): void {
    this.selected = id;
    this.panel.showSelected();
    this.redraw();
  }

  /** Centres the view on an annotation and selects it (the list's jump-to). */
  jumpTo(id: Id): void {
    const held = this.store.byId.get(id);
    if (!held?.coords) return;
    const pad = Math.max(held.maxX - held.minX, held.maxY - held.minY, 50) * 2;
    this.notReady();
    this.view.fitImageRect({ minX: held.minX - pad, minY: held.minY - pad, maxX: held.maxX + pad, maxY: held.maxY + pad });
    this.select(id);
  }

  // ---- pointer -----------------------------------------------------------------------------

  private local(e: PointerEvent): [number, number] {
    const r = this.view.container.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  /** Capture-phase listeners on the viewer: a gesture the tools own never reaches
   * OpenSeadragon (no panning while drawing); everything else pans and zooms as usual. */
  private bindPointer(main: HTMLElement): void {
    const onSlide = (e: Event) => this.view.osd.canvas.contains(e.target as Node);
    main.addEventListener(
      'pointerdown',
      (e) => {
        if (e.button !== 0 || !onSlide(e)) return;
        const [sx, sy] = this.local(e);
        const [x, y] = this.view.toImage(sx, sy);
        let owner: Press['owner'] = 'osd';
        if (this.mode === 'draw' && this.tool) {
          this.tool.down(x, y);
          owner = 'tool';
        } else if (this.mode === 'ruler') {
          this.rulerTool.down(x, y);
          owner = 'ruler';
        } else if (this.mode === 'select') {
          owner = this.beginDrag(x, y) ? 'drag' : 'osd';
        }
        this.press = { sx, sy, moved: false, owner };
        if (owner !== 'osd') {
          e.stopPropagation();
          e.preventDefault();
          this.view.osd.canvas.setPointerCapture(e.pointerId);
        }
      },
      true,
    );
    main.addEventListener(
      'pointermove',
      (e) => {
        if (!onSlide(e) && !this.press) return;
        const [sx, sy] = this.local(e);
        const [x, y] = this.view.toImage(sx, sy);
        const p = this.press;
        if (p && Math.hypot(sx - p.sx, sy - p.sy) > 4) p.moved = true;
        if (this.mode === 'draw' && this.tool) {
          this.tool.move(x, y, !!p && p.owner === 'tool');
          this.redraw();
        }
        if (!p || p.owner === 'osd') return;
        if (p.owner === 'ruler') {
          this.rulerTool.move(x, y, true);
          this.ruler = this.rulerTool.sketch();
          this.panel.showRuler();
        } else if (p.owner === 'drag' && this.drag) {
          const t = this.types.get(this.store.byId.get(this.drag.id)?.type ?? -1);
          if (t) this.drag.now = dragged(t, this.drag.before, this.drag.grip, this.drag.x0, this.drag.y0, x, y);
        }
        e.stopPropagation();
        this.redraw();
      },
      true,
    );
    const release = (e: PointerEvent) => {
      const p = this.press;
      this.press = null;
      if (!p) return;
      const [sx, sy] = this.local(e);
      const [x, y] = this.view.toImage(sx, sy);
      if (p.owner === 'osd') {
        // A click on empty slide in select mode clears the selection.
        if (!p.moved && this.mode === 'select') this.select(null);
        return;
      }
      e.stopPropagation();
      if (p.owner === 'tool' && this.tool && this.current) {
        const done = this.tool.up(x, y, !p.moved);
        if (done) void this.createFrom(this.current, done);
      } else if (p.owner === 'ruler') {
        this.rulerTool.up(x, y, !p.moved);
        this.panel.showRuler();
      } else if (p.owner === 'drag') {
        void this.endDrag(p.moved);
      }
      this.redraw();
    };
    main.addEventListener('pointerup', release, true);
    main.addEventListener('pointercancel', release, true);
  }

  private beginDrag(x: number, y: number): boolean {
    const s = this.view.transform().s;
    const sel = this.selected !== null ? this.store.byId.get(this.selected) : undefined;
    const selType = sel ? this.types.get(sel.type) : undefined;
    if (sel?.coords && selType) {
      const hIndex = handleAt(selType, sel.coords, x, y, s);
      if (hIndex !== null) {
        this.drag = { id: sel.id, grip: { kind: 'handle', index: hIndex }, x0: x, y0: y, before: sel.coords, now: sel.coords };
        return true;
      }
    }
    if (!this.showAnnotations) return false;
    const hit = hitTest(this.store, this.types, this.hidden, x, y, s);
    if (!hit?.coords) return false;
    if (hit.id !== this.selected) this.select(hit.id);
    this.drag = { id: hit.id, grip: { kind: 'move' }, x0: x, y0: y, before: hit.coords, now: hit.coords };
    return true;
  }

  private async endDrag(moved: boolean): Promise<void> {
    const d = this.drag;
    this.drag = null;
    if (!d || !moved) return this.redraw();
    const held = this.store.byId.get(d.id);
    if (!held?.raw) return;
    const before: Shape = { annotation_type: held.type, vector: held.raw.vector };
    // A moved or reshaped annotation stays on the frame it was drawn on.
    const after: Shape = { annotation_type: held.type, vector: this.onFrame(toJson(d.now), held.raw.vector?.frame) };
    // Shown at its new place at once; put back if the server refuses.
    this.store.upsert({ ...held.raw, vector: after.vector });
    this.redraw();
    try {
      const saved = await api.patchAnnotation(d.id, { vector: after.vector });
      this.accept(saved, 'updated');
      this.history.push({ kind: 'update', id: d.id, before, after });
    } catch (e) {
      this.store.upsert(held.raw);
      this.fail('Move not saved', e);
    }
  }

  // ---- writes ------------------------------------------------------------------------------

  /** Takes the server's version of an annotation into the view; `change` says it was written
   * (by this user or a colleague) rather than loaded, so the per-type counts follow it
   * without asking the server to count a possibly huge image again. */
  accept(a: Annotation, change?: Change): void {
    if (change) this.count(a, change);
    if (a.deleted) {
      if (this.tombstones.size > 10000) this.tombstones.clear();
      this.tombstones.set(a.id, a.last_edit_time);
    } else {
      this.tombstones.delete(a.id);
    }
    if (a.vector === null && this.types.get(a.annotation_type)?.vector_type === VectorType.Global) {
      if (a.deleted) this.globals.delete(a.annotation_type);
      else this.globals.set(a.annotation_type, a);
    } else {
      this.store.upsert(a);
    }
    if (a.deleted && this.selected === a.id) this.select(null);
    // A write makes the overview tiles of the image stale (renewed now only if they show).
    if (change) this.loader.bustOverview();
    this.panel.changed();
    this.redraw();
  }

  private count(a: Annotation, change: Change): void {
    const global = this.globals.get(a.annotation_type);
    const prev = this.store.byId.get(a.id)?.raw ?? (global?.id === a.id ? global : undefined);
    // One we saw deleted (our own delete, or its event) is not counted twice.
    const gone = this.tombstones.has(a.id);
    const wasLive = prev ? !prev.deleted : gone ? false : change === 'created' ? false : change === 'deleted' ? true : undefined;
    if (wasLive === undefined) {
      // An edit of one we never held (out of view): only the server knows its old type.
      this.loader.recount();
      return;
    }
    const bump = (t: Id, by: number) => {
      const n = this.counts.get(t);
      if (n !== undefined) this.counts.set(t, Math.max(0, n + by));
    };
    if (wasLive) bump(prev?.annotation_type ?? a.annotation_type, -1);
    if (!a.deleted) bump(a.annotation_type, 1);
  }

  private fail(what: string, e: unknown): void {
    if (e instanceof ApiError && e.status === 401) return;
    toast(`${what}: ${e instanceof ApiError ? e.detail : String(e)}`, 'error', 8000);
  }

  private async createFrom(t: AnnotationType, c: Coords): Promise<void> {
    const draft: Draft = { key: draftKey(), type: t.id, coords: Array.from(c) };
    this.drafts.push(draft);
    this.persist();
    await this.saveDraft(draft);
  }

  /** Saves a draft; on failure it stays on screen with the server's reason, retried by Enter. */
  async saveDraft(d: Draft): Promise<void> {
    this.redraw();
    const t0 = performance.now();
    try {
      const saved = await api.createAnnotation({
        annotation_type: d.type,
        image: this.image.id,
        vector: this.onFrame(toJson(Float64Array.from(d.coords))),
      });
      this.drafts = this.drafts.filter((x) => x.key !== d.key);
      this.persist();
      this.accept(saved, 'created');
      this.history.push({ kind: 'create', id: saved.id });
      // `exact:save`: from the gesture's end to the frame that draws the saved annotation (the
      // redraw asked by accept runs first in that frame; the measure ends after that frame's
      // rendering work, in the task that follows it).
      requestAnimationFrame(() => setTimeout(() => performance.measure('exact:save', { start: t0 }), 0));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return;
      d.error = e instanceof ApiError ? e.detail : `the server could not be reached (${e instanceof Error ? e.message : String(e)})`;
      this.persist();
      this.redraw();
    }
  }

  /** `v` on `frame`, by default the frame shown (nothing on a single-plane image). */
  onFrame(v: VectorJson, frame: number | null | undefined = annotationFrame(this.image, this.plane)): VectorJson {
    if (frame !== null && frame !== undefined) v.frame = frame;
    return v;
  }

  /** Whether `a` shows on the plane shown (EXACT: an annotation without a frame shows on all). */
  onThisPlane(a: Annotation): boolean {
    const f = a.vector?.frame;
    const here = annotationFrame(this.image, this.plane);
    return f === undefined || here === null || f === here;
  }

  async retryDrafts(): Promise<void> {
    for (const d of [...this.drafts]) await this.saveDraft(d);
  }

  async relabel(id: Id, to: AnnotationType): Promise<void> {
    const held = this.store.byId.get(id);
    const from = held ? this.types.get(held.type) : undefined;
    if (!held?.raw || !from || from.id === to.id) return;
    if (!compatible(from.vector_type, to.vector_type)) {
      toast(`A ${from.name} cannot become a ${to.name} (different shape).`, 'error');
      return;
    }
    try {
      const saved = await api.patchAnnotation(id, { annotation_type: to.id });
      this.history.push({
        kind: 'update',
        id,
        before: { annotation_type: from.id, vector: held.raw.vector },
        after: { annotation_type: to.id, vector: held.raw.vector },
      });
      this.accept(saved, 'updated');
    } catch (e) {
      this.fail('Relabel not saved', e);
    }
  }

  async remove(id: Id): Promise<void> {
    try {
      await api.deleteAnnotation(id);
      const held = this.store.byId.get(id);
      if (held?.raw) this.accept({ ...held.raw, deleted: true }, 'deleted');
      else this.store.remove(id);
      this.history.push({ kind: 'delete', id });
      this.select(null);
    } catch (e) {
      this.fail('Delete failed', e);
    }
  }

  async updateRemark(id: Id, description: string): Promise<void> {
    try {
      this.accept(await api.patchAnnotation(id, { description }));
      toast('Remark saved');
    } catch (e) {
      this.fail('Remark not saved', e);
    }
  }

  /** Shift+1–9 / the panel's check boxes: an image-level label on or off. */
  async toggleGlobal(t: AnnotationType): Promise<void> {
    const have = this.globals.get(t.id);
    try {
      if (have) {
        await api.deleteAnnotation(have.id);
        this.accept({ ...have, deleted: true }, 'deleted');
        this.history.push({ kind: 'delete', id: have.id });
      } else {
        const gone = await api.annotations({ image: this.image.id, annotation_type: t.id, deleted: true, limit: 1 });
        const old = gone.results[0];
        const saved = old
          ? await api.patchAnnotation(old.id, { deleted: false })
          : await api.createAnnotation({ annotation_type: t.id, image: this.image.id, vector: null });
        this.accept(saved, 'created');
        this.history.push(old ? { kind: 'update', id: old.id, before: { annotation_type: t.id, vector: null }, after: { annotation_type: t.id, vector: null } } : { kind: 'create', id: saved.id });
      }
    } catch (e) {
      this.fail(`Label ${t.name} not changed`, e);
    }
  }

  private async apply(step: Step, undo: boolean): Promise<void> {
    let saved: Annotation;
    let op: Change = 'updated';
    if (step.kind === 'update') {
      const shape = undo ? step.before : step.after;
      saved = await api.patchAnnotation(step.id, { annotation_type: shape.annotation_type, vector: shape.vector as VectorJson | null, deleted: false });
    } else {
      // Undoing a create or redoing a delete deletes; the other two restore.
      const del = (step.kind === 'create') === undo;
      if (del) {
        await api.deleteAnnotation(step.id);
        saved = await api.annotation(step.id);
        op = 'deleted';
      } else {
        saved = await api.patchAnnotation(step.id, { deleted: false });
        // Restored: counted again like a new one.
        op = 'created';
      }
    }
    this.accept(saved, op);
  }

  async undo(redo: boolean): Promise<void> {
    const step = redo ? this.history.takeRedo() : this.history.takeUndo();
    if (!step) return;
    try {
      await this.apply(step, !redo);
      toast(redo ? 'Redone' : 'Undone');
    } catch (e) {
      if (redo) this.history.restoreRedo(step);
      else this.history.restoreUndo(step);
      this.fail(redo ? 'Redo failed' : 'Undo failed', e);
    }
  }

  // ---- drafts ------------------------------------------------------------------------------

  /** Everything unsaved (failed saves and the drawing in progress) into localStorage. */
  persist(): void {
    const all = [...this.drafts];
    const sketch = this.mode === 'draw' ? this.tool?.sketch() : null;
    if (sketch && this.current && sketch.length >= 2) {
      all.push({ key: 0, type: this.current.id, coords: Array.from(sketch), error: 'drawing in progress' });
    }
    saveDrafts(this.image.id, all);
  }

  private restoreDrafts(): void {
    const saved = loadDrafts(this.image.id).filter((d) => this.types.has(d.type));
    this.drafts = saved.map((d) => ({ ...d, key: d.key || draftKey(), error: d.error ?? 'restored, not saved yet' }));
    if (this.drafts.length) {
      toast(`${this.drafts.length} unsaved annotation(s) restored: Enter saves, Esc discards.`, 'info', 8000);
    }
  }

  // ---- keys --------------------------------------------------------------------------------

  private key(e: KeyboardEvent): void {
    if (typing(e)) return;
    const k = e.key;
    const ctrl = e.ctrlKey || e.metaKey;
    if (ctrl && (k === 'z' || k === 'Z')) {
      e.preventDefault();
      void this.undo(e.shiftKey);
      return;
    }
    if (ctrl && k === 'y') {
      e.preventDefault();
      void this.undo(true);
      return;
    }
    if (ctrl || e.altKey) return;
    const digit = /^Digit([1-9])$/.exec(e.code);
    if (digit) {
      const t = this.ordered[Number(digit[1]) - 1];
      if (!t) return;
      e.preventDefault();
      if (t.vector_type === VectorType.Global) void this.toggleGlobal(t);
      else if (this.selected !== null && !e.shiftKey) void this.relabel(this.selected, t);
      else this.chooseType(t);
      return;
    }
    if (this.screening.key(e)) return;
    if (hasPlanes(this.image) && (k === ',' || k === '.' || k === 'PageUp' || k === 'PageDown')) {
      e.preventDefault();
      const to = stepFor(this.image, this.plane, k);
      if (to) void this.showPlane(to);
      return;
    }
    switch (k) {
      case 'c':
        this.setMode(this.mode === 'draw' ? 'select' : 'draw');
        break;
      case 'm':
        this.setMode(this.mode === 'ruler' ? 'select' : 'ruler');
        break;
      case 'Enter':
      case 'v': {
        const done = this.tool?.finish();
        if (done && this.current) void this.createFrom(this.current, done);
        else void this.retryDrafts();
        break;
      }
      case 'Escape':
        if (this.tool?.sketch()) this.setTool();
        else if (this.drafts.length) {
          this.drafts = [];
          this.persist();
        } else this.select(null);
        this.ruler = null;
        this.redraw();
        break;
      case 'Delete':
      case 'Backspace':
      case 'x':
        if (this.selected !== null) void this.remove(this.selected);
        break;
      case 'y':
        this.showAnnotations = !this.showAnnotations;
        this.loader.refreshOverview();
        this.redraw();
        break;
      case 'q':
      case 'e':
        this.step(k === 'q' ? -1 : 1);
        break;
      case 'r':
        this.select(null);
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  /** q/e: the previous/next image of the set (in name order). */
  step(by: number): void {
    const i = this.siblings.findIndex((s) => s.id === this.image.id);
    const next = this.siblings[i + by];
    if (!next) return;
    this.persist();
    location.assign(`/annotations/${next.id}/`);
  }

  visibleBox(): BBox {
    return this.view.visible(false);
  }
}

/** The page shown (the plane control in the header steps its planes). */
let shown: ViewerPage | null = null;

/** What the viewer needs before its first paint, in one request (`GET /api/v1/viewer/<id>/`). */
interface Bootstrap {
  me: User;
  image: Image;
  image_set: ImageSet;
  annotation_types: AnnotationType[];
  images: Image[];
  overview: { generation: number; key?: string } | null;
}

/** Entry of the viewer page: who is logged in, the image and its set, its types. */
export async function viewerPage(): Promise<void> {
  const imageId = pageId();
  // One request for the user, the image, its set, the set's types and images and the
  // overview's version (a chain of three round trips before): the slide (OpenSeadragon's .dzi
  // and tiles) and the overview probe start as soon as it answers (window.performance marks
  // `exact:*` show where an open spends its time).
  const boot = await request<Bootstrap>('GET', `/api/v1/viewer/${imageId}/`);
  const { me, image, image_set: set } = boot;
  performance.mark('exact:image');
  const siblings = boot.images.sort((a, b) => a.name.localeCompare(b.name) || a.id - b.id);
  const layout = renderLayout(me, image, siblings);
  if (image.state === 'converting' || image.state === 'failed') {
    showState(layout.body, image);
    return;
  }
  const view = new SlideView(layout.body.querySelector('#viewer') as HTMLElement, image, planeQuery(image, planeFromUrl(image)));
  const generation: Promise<OverviewVersion | null> = Promise.resolve(
    boot.overview ? { generation: boot.overview.generation, key: boot.overview.key ?? '' } : null,
  );
  const early = earlyCount(image.id, viewportFromUrl() ?? { minX: 0, minY: 0, maxX: image.width, maxY: image.height });
  // The bootstrap got a single-plane image's overview ready on the server; a stack's plane is
  // asked for by its .dzi (a million annotations take a moment on a fresh server without a
  // stored overview); the layer itself asks again later.
  const frame = annotationFrame(image, planeFromUrl(image));
  if (frame !== null) void fetch(`/api/v1/images/images/${image.id}/annotation_tiles.dzi?frame=${frame}`).catch(() => {});
  performance.mark('exact:set');
  const types = boot.annotation_types.filter((t) => t.active !== false);
  const page = new ViewerPage(me, image, set, siblings);
  shown = page;
  await page.start(types, view, generation, early);
}

/** The page's frame: header, the viewer's body and the image strip. The body is built once
 * (the slide opens in it while the set's images load); `siblings` redraws header and strip. */
function renderLayout(me: User, image: Image, siblings: Image[]): { body: HTMLElement; siblings: (s: Image[]) => void } {
  const body = h('div', { class: 'body' }, h('div', { id: 'viewer', class: 'viewer' }), h('aside', { id: 'panel', class: 'panel' }));
  const app = document.getElementById('app') as HTMLElement;
  let [header, strip] = chrome(me, image, siblings);
  app.replaceChildren(header, body, strip);
  // The body stays in place (OpenSeadragon is already in it): header and strip are swapped.
  const redraw = (list: Image[]) => {
    const [hd, st] = chrome(me, image, list);
    header.replaceWith(hd);
    strip.replaceWith(st);
    [header, strip] = [hd, st];
  };
  return { body, siblings: redraw };
}

function chrome(me: User, image: Image, siblings: Image[]): [HTMLElement, HTMLElement] {
  const idx = siblings.findIndex((s) => s.id === image.id);
  const prev = siblings[idx - 1];
  const next = siblings[idx + 1];
  const logout = h('button', { id: 'logout', type: 'button', text: 'Log out' });
  logout.addEventListener('click', () => {
    void api.logout().finally(() => goLogin());
  });
  const header = h(
    'header',
    { class: 'top' },
    h('a', { href: '/', class: 'brand', text: 'EXACT' }),
    prev ? h('a', { href: `/annotations/${prev.id}/`, id: 'prev-image', title: 'previous image (q)', text: '◀' }) : null,
    h('span', { class: 'image-name', id: 'image-name', text: image.name }),
    hasPlanes(image) ? planeControl(image, planeFromUrl(image), (to) => void shown?.showPlane(to)) : null,
    next ? h('a', { href: `/annotations/${next.id}/`, id: 'next-image', title: 'next image (e)', text: '▶' }) : null,
    h('span', { class: 'grow' }),
    h('span', { class: 'user', id: 'username', text: me.username }),
    logout,
  );
  const strip = h(
    'nav',
    { class: 'strip', id: 'strip' },
    ...siblings.map((s) =>
      h(
        'a',
        { href: `/annotations/${s.id}/`, class: s.id === image.id ? 'thumb current' : 'thumb', title: s.name },
        h('img', { src: `/api/v1/images/images/${s.id}/thumbnail/`, alt: s.name, loading: 'lazy' }),
      ),
    ),
  );
  return [header, strip];
}

/** `converting` / `failed`: a message instead of a broken canvas; a converting image reloads
 * the page once it is ready. */
function showState(layout: HTMLElement, image: Image): void {
  const text =
    image.state === 'converting'
      ? 'This image is still being converted; the viewer opens as soon as it is ready.'
      : `This image could not be converted: ${image.state_detail || 'unknown reason'}.`;
  const viewer = layout.querySelector('#viewer') as HTMLElement;
  viewer.replaceChildren(h('div', { class: 'image-state', id: 'image-state', role: 'status', text }));
  if (image.state === 'converting') {
    const poll = () =>
      api.image(image.id).then((i) => {
        if (i.state !== 'converting') location.reload();
        else setTimeout(poll, 2000);
      });
    setTimeout(poll, 2000);
  }
}
