// What the viewer holds: the annotations of the viewport (fetched with the API's viewport
// filter as the view settles), the image-level labels, per-type counts, and — when a view
// holds more annotations than a browser should draw one by one — the server's overview tiles.

import OpenSeadragon from 'openseadragon';
import { api, request } from '../api/client';
import { VectorType } from '../api/types';
import type { BBox } from '../viewer/geometry';
import { annotationFrame } from '../viewer/planes';
import type { ViewerPage } from './viewer';

/** Most annotations fetched for one view; beyond it the overview tiles show the rest. */
export const VIEW_LIMIT = 8000;
/** Margin fetched around the view, per side, as a fraction of its size (pans stay local). */
const MARGIN = 0.2;

function inside(a: BBox, b: BBox): boolean {
  return a.minX >= b.minX && a.minY >= b.minY && a.maxX <= b.maxX && a.maxY <= b.maxY;
}

/** `view` with the fetch margin around it. */
function withMargin(view: BBox): BBox {
  const w = view.maxX - view.minX;
  const hgt = view.maxY - view.minY;
  return { minX: view.minX - w * MARGIN, minY: view.minY - hgt * MARGIN, maxX: view.maxX + w * MARGIN, maxY: view.maxY + hgt * MARGIN };
}

function countParams(image: number, b: BBox): Record<string, number | boolean> {
  return {
    image,
    deleted: false,
    vector_x_min: Math.floor(b.minX),
    vector_x_max: Math.ceil(b.maxX),
    vector_y_min: Math.floor(b.minY),
    vector_y_max: Math.ceil(b.maxY),
  };
}

/** A count asked before the slide opened, of a box the first view will contain. */
export interface EarlyCount {
  box: BBox;
  count: Promise<number>;
}

/** Starts the first view's count as soon as the image is known, beside the set, the types and
 * the slide's .dzi (it used to wait for the slide to open, and then for a connection behind
 * the slide's tiles). The first view shows at least `shown` (the URL's viewport, or the whole
 * image), so its box with the margin holds at least this box's annotations. */
export function earlyCount(image: number, shown: BBox): EarlyCount {
  const box = withMargin(shown);
  const count = api.counts(countParams(image, box)).then((c) => c.count);
  count.catch(() => {});
  return { box, count };
}

export class Loader {
  private loaded: BBox | null = null;
  private seq = 0;
  private inFlight = '';
  private countTimer = 0;
  /** Whether the last view had more annotations than VIEW_LIMIT. */
  crowded = false;
  /** The last crowded answer: its box and how many it held. */
  private crowd: { box: BBox; count: number } | null = null;
  private overview: OpenSeadragon.TiledImage | null = null;
  private overviewGen: OverviewVersion | null = null;
  private readonly overviewProbe: Promise<boolean>;
  private overviewPending = false;
  /** Whether the overview's tiles load while hidden (the first view, at low zoom). */
  private preload = false;
  private bustTimer = 0;
  /** Writes happened while the overview layer was hidden: it is renewed when shown again. */
  private stale = false;

  /** `generation`: the overview probe, started by the page before the slide opened. */
  constructor(
    private readonly page: ViewerPage,
    generation: Promise<OverviewVersion | null>,
    private early: EarlyCount | null = null,
  ) {
    this.overviewProbe = generation.then((g) => {
      this.overviewGen = g;
      return g !== null;
    });
  }

  async start(): Promise<void> {
    // The overview layer is added at once, hidden: a crowded view then shows it without another
    // round trip. A low-zoom first view (a quarter of the image or more) preloads its tiles
    // while it is counted, so a crowded one is complete when the count says so.
    const v = this.page.visibleBox();
    const img = this.page.image;
    this.preload = (v.maxX - v.minX) * (v.maxY - v.minY) >= (img.width * img.height) / 4;
    void this.overviewAvailable().then((ok) => {
      if (ok && !this.overview && !this.overviewPending) this.addOverview();
    });
    const globals = this.page.ordered.filter((t) => t.vector_type === VectorType.Global).map((t) => t.id);
    const labels = async () => {
      if (!globals.length) return;
      const res = await api.annotations({ image: this.page.image.id, annotation_type__in: globals.join(','), deleted: false, limit: 1000 });
      for (const a of res.results) this.page.accept(a);
    };
    await Promise.all([labels(), this.viewport(this.page.visibleBox())]);
    this.preload = false;
    this.preloading(this.overview);
    performance.mark('exact:first-view');
    this.recount();
  }

  /** Whether `view` surely holds too many to draw, judged by the last crowded answer's density
   * (no query: panning a crowded low-zoom view costs the server nothing). */
  private stillCrowded(view: BBox): boolean {
    const c = this.crowd;
    if (!c || !inside(view, c.box)) return false;
    const area = (b: BBox) => Math.max(1, (b.maxX - b.minX) * (b.maxY - b.minY));
    return (c.count * area(view)) / area(c.box) > VIEW_LIMIT;
  }

  private overviewAvailable(): Promise<boolean> {
    return this.overviewProbe;
  }

  /** Whether the view shows the overview tiles instead of vectors. */
  get showingOverview(): boolean {
    return this.crowded && this.overview !== null;
  }

  /** Whether `view` is complete: its annotations are held (or, crowded, the overview tiles
   * showing all of them are loaded) and no query for it is on the way. Before the first answer
   * nothing is complete, whatever else has loaded meanwhile. */
  complete(view: BBox): boolean {
    const overviewLoaded = () => !!this.overview && !this.overviewPending && this.overview.getFullyLoaded();
    // While a query runs, overview tiles on screen already show every annotation.
    if (this.inFlight) return this.crowded && overviewLoaded();
    if (this.crowded && (this.overview || this.overviewPending)) return overviewLoaded();
    if (this.loaded && inside(view, this.loaded)) return true;
    // Without overview tiles a crowded view shows what it could list (and says so).
    return !!this.crowd && inside(view, this.crowd.box);
  }

  /** Fetches the annotations of `view` (with a margin) unless they are already held. */
  async viewport(view: BBox): Promise<void> {
    if (this.loaded && inside(view, this.loaded)) return;
    if (this.crowd && this.stillCrowded(view)) return;
    const want = withMargin(view);
    const wantKey = [want.minX, want.minY, want.maxX, want.maxY].map(Math.round).join(',');
    // The same view asked again while its answer is on the way (open + animation end).
    if (wantKey === this.inFlight) return;
    this.inFlight = wantKey;
    const seq = ++this.seq;
    let res;
    try {
      // With overview tiles to fall back on, a cheap count says first whether the view is
      // crowded: a low-zoom view of a million annotations lists none of them. The count is
      // asked at once, beside the probe (it is only used when overview tiles exist).
      // The first view may use the count started before the slide opened: a box it contains
      // holding more than VIEW_LIMIT makes it crowded; holding fewer, the list below (which
      // counts too) decides, with no second count.
      const early = this.early && inside(this.early.box, want) ? this.early : null;
      this.early = null;
      const counted = early ? early.count : api.counts(countParams(this.page.image.id, want)).then((c) => c.count);
      counted.catch(() => {});
      if (await this.overviewAvailable()) {
        const n = { count: await counted };
        if (seq !== this.seq) return;
        if (n.count > VIEW_LIMIT) {
          this.crowded = true;
          this.loaded = null;
          this.crowd = { box: want, count: n.count };
          await this.showOverview(true);
          this.page.panel.changed();
          this.page.redraw();
          this.page.updateReady();
          return;
        }
      }
      const frame = annotationFrame(this.page.image, this.page.plane);
      const query = api.annotations({ ...countParams(this.page.image.id, want), limit: VIEW_LIMIT, ...(frame === null ? {} : { frame }) });
      res = await query;
    } finally {
      if (this.inFlight === wantKey) this.inFlight = '';
    }
    if (seq !== this.seq) return;
    const crowded = res.count > res.results.length;
    if (crowded && (await this.overviewAvailable())) {
      // Too many to draw one by one: the overview tiles show them all; vectors come back
      // when the user zooms in. Nothing of this page is held (no misleading partial set).
      this.crowded = true;
      this.loaded = null;
      this.crowd = { box: want, count: res.count };
      await this.showOverview(true);
    } else {
      this.crowded = false;
      this.crowd = crowded ? { box: want, count: res.count } : null;
      // Memory stays bounded: a far pan starts afresh instead of accumulating the slide.
      if (this.page.store.size > 4 * VIEW_LIMIT) this.page.store.clear();
      for (const a of res.results) this.page.accept(a);
      // Without overview tiles a crowded view shows the first VIEW_LIMIT and says so.
      this.loaded = crowded ? null : want;
      if (crowded) this.page.panel.logEvent(`${res.count} annotations in view; showing ${res.results.length} — zoom in for all`);
      await this.showOverview(false);
    }
    this.page.panel.changed();
    this.page.redraw();
    this.page.updateReady();
  }

  /** The page shows another plane: what was held is the old plane's, and so are the overview
   * tiles (drawn per frame); the view is fetched again for the new one. */
  async planeChanged(): Promise<void> {
    this.loaded = null;
    this.crowd = null;
    this.early = null;
    this.seq++;
    this.inFlight = '';
    this.page.store.clear();
    if (this.overview) this.addOverview();
    await this.viewport(this.page.visibleBox());
  }

  /** Forgets what is held and fetches the view again (after an event stream reset). */
  async reload(): Promise<void> {
    this.loaded = null;
    this.page.store.clear();
    await this.viewport(this.page.visibleBox());
    this.recount();
    this.bustOverview();
  }

  /** Per-type counts of the whole image (debounced: several writes, one request, which the
   * server answers from record heads without listing anything). */
  recount(): void {
    clearTimeout(this.countTimer);
    this.countTimer = window.setTimeout(() => {
      void api
        .counts({ image: this.page.image.id, deleted: false }, true)
        .then((res) => {
          for (const t of this.page.ordered) this.page.counts.set(t.id, res.by_type[String(t.id)] ?? 0);
          this.page.panel.render();
        })
        .catch(() => {});
    }, 250);
  }

  // ---- overview tiles (server-rendered, contract 2) ----------------------------------------

  private base(): string {
    return `/api/v1/images/images/${this.page.image.id}`;
  }

  private generation(): Promise<OverviewVersion | null> {
    return overviewGeneration(this.page.image.id);
  }

  /** Shows the overview layer when the view is crowded; only asks the server when it is. */
  private async showOverview(on: boolean): Promise<void> {
    if (!on) {
      this.overview?.setOpacity(0);
      return;
    }
    if (!(await this.overviewAvailable())) return;
    if (this.stale) {
      this.stale = false;
      const g = await this.generation();
      if (g !== null && g.generation !== this.overviewGen?.generation) {
        this.overviewGen = g;
        if (this.overview) this.addOverview();
      }
    }
    if (!this.overview && !this.overviewPending) this.addOverview();
    this.overview?.setOpacity(this.page.showAnnotations ? 1 : 0);
  }

  private addOverview(): void {
    const hidden = new Set(this.page.hidden);
    const types = this.page.ordered.filter((t) => !hidden.has(t.id)).map((t) => t.id);
    const osd = this.page.view.osd;
    this.overviewPending = true;
    osd.addTiledImage({
      tileSource: overviewSource(this.page.view.tiled.source, this.base(), overviewQuery(this.overviewGen, types, annotationFrame(this.page.image, this.page.plane))),
      index: 1,
      success: (e: { item: OpenSeadragon.TiledImage }) => {
        if (this.overview) osd.world.removeItem(this.overview);
        this.overview = e.item;
        this.overviewPending = false;
        e.item.setOpacity(this.crowded && this.page.showAnnotations ? 1 : 0);
        this.preloading(e.item);
        e.item.addHandler('fully-loaded-change', () => this.page.updateReady());
        this.page.updateReady();
      },
      error: () => {
        this.overviewPending = false;
        this.page.updateReady();
      },
    } as unknown as Parameters<OpenSeadragon.Viewer["addTiledImage"]>[0]);
  }

  /** Type visibility or y changed: the overview follows (same types, shown or hidden). */
  refreshOverview(): void {
    if (!this.overview) return;
    this.overview.setOpacity(this.crowded && this.page.showAnnotations ? 1 : 0);
    this.addOverview();
  }

  private preloading(item: OpenSeadragon.TiledImage | null): void {
    (item as unknown as { setPreload(on: boolean): void } | null)?.setPreload(this.preload);
  }

  /** After a write: a new generation of overview tiles. Debounced: a burst of writes (or of
   * colleagues' events) reloads the layer's tiles once, and a save never waits behind them for
   * one of the browser's six connections. A hidden layer is only marked stale. */
  bustOverview(): void {
    if (!this.overview) return;
    // Hidden (the view draws vectors): renewing it now would only make OpenSeadragon re-add a
    // layer nobody sees, frames after a save; it is renewed when a crowded view shows it.
    if (!this.crowded) {
      this.stale = true;
      return;
    }
    clearTimeout(this.bustTimer);
    this.bustTimer = window.setTimeout(() => {
      void this.generation().then((g) => {
        if (g === null || g.generation === this.overviewGen?.generation) return;
        this.overviewGen = g;
        this.addOverview();
      });
    }, 300);
  }
}

/** The overview layer's tile source, made from the slide's own: `annotation_tiles.dzi` has the
 * geometry of `native.dzi` (only the format differs), so the layer needs no .dzi round trip
 * before its tiles start loading (it sat on the open's critical path, after the slide's). */
function overviewSource(slide: OpenSeadragon.TileSource, base: string, query: string): OpenSeadragon.DziTileSource {
  const level = slide.maxLevel;
  return new OpenSeadragon.DziTileSource({
    width: slide.dimensions.x,
    height: slide.dimensions.y,
    tileSize: slide.getTileWidth(level),
    tileOverlap: slide.tileOverlap,
    minLevel: slide.minLevel,
    maxLevel: level,
    tilesUrl: `${base}/annotation_tiles_files/`,
    fileFormat: 'png',
    queryParams: query,
  } as unknown as ConstructorParameters<typeof OpenSeadragon.DziTileSource>[0]);
}

/** Which overview tiles to ask for: the image's annotation generation, and a key of what else
 * they depend on (the user, what they may see, the types' colours). Tile URLs carrying the
 * current pair are cached by the browser (`immutable`): a warm open asks the server for none of
 * its overview tiles, where it revalidated each of them. */
export interface OverviewVersion {
  generation: number;
  key: string;
}

/** `frame`: the plane whose annotations the tiles draw (stacks), or null for all. */
function overviewQuery(v: OverviewVersion | null, types: number[], frame: number | null): string {
  return `?v=${v?.generation ?? 0}&k=${encodeURIComponent(v?.key ?? '')}&types=${types.join(',')}${frame === null ? '' : `&frame=${frame}`}`;
}

/** The image's overview version, or null when the server draws no overview tiles. */
export async function overviewGeneration(image: number): Promise<OverviewVersion | null> {
  try {
    const g = await request<{ generation: number; key?: string }>('GET', `/api/v1/images/images/${image}/annotation_tiles/generation`);
    return { generation: g.generation, key: g.key ?? '' };
  } catch {
    return null;
  }
}
