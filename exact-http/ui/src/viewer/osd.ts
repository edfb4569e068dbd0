// OpenSeadragon over the image's native-grid Deep Zoom, plus the small pieces of viewer chrome
// around it: image ↔ screen transforms, the URL that follows the viewport, the scale bar and
// the objective-magnification read-out, and the brightness/contrast/gamma filter.

import OpenSeadragon from 'openseadragon';
import type { Image } from '../api/types';
import type { BBox } from './geometry';

export interface Transform {
  /** Screen (CSS) pixels per level-0 pixel. */
  s: number;
  /** Screen position of the image origin. */
  ox: number;
  oy: number;
}

export class SlideView {
  readonly osd: OpenSeadragon.Viewer;
  private item: OpenSeadragon.TiledImage | null = null;
  readonly opened: Promise<void>;

  constructor(
    readonly container: HTMLElement,
    readonly image: Image,
    /** `?z=&frame=` of the shown plane (empty for a single-plane image). */
    plane = '',
  ) {
    this.osd = OpenSeadragon({
      element: container,
      prefixUrl: '/static/osd/images/',
      tileSources: `/api/v1/images/images/${image.id}/native.dzi${plane}`,
      showNavigator: true,
      navigatorPosition: 'BOTTOM_RIGHT',
      drawer: 'canvas',
      animationTime: 0.4,
      maxZoomPixelRatio: 4,
      // OpenSeadragon starts at most this many tile loads per animation frame (default 1,
      // boosted ×10 only for the first frame). On a busy or software-rendered page a frame takes
      // ~100 ms, so a whole-slide view's ~40 tiles (and as many overview tiles) started one per
      // frame took ~3 s while the browser sat idle; started together they share its connections.
      maxTilesPerFrame: 16,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: false },
      gestureSettingsTouch: { clickToZoom: false, dblClickToZoom: false },
    } as OpenSeadragon.Options);
    this.opened = new Promise((resolve, reject) => {
      this.osd.addOnceHandler('open', () => {
        this.item = this.osd.world.getItemAt(0);
        resolve();
      });
      this.osd.addOnceHandler('open-failed', (e) => reject(new Error(String((e as { message?: string }).message))));
    });
  }

  /** Shows another plane of the stack in place (`query`: its `?z=&frame=`): the slide layer's
   * tile source is swapped for one with the same geometry (no .dzi round trip) and the
   * viewport stays where it is. Resolves once the new layer is in the world. */
  showPlane(query: string): Promise<OpenSeadragon.TiledImage> {
    const old = this.tiled;
    const src = old.source as OpenSeadragon.TileSource & { tilesUrl: string; fileFormat: string };
    const level = src.maxLevel;
    const source = new OpenSeadragon.DziTileSource({
      width: src.dimensions.x,
      height: src.dimensions.y,
      tileSize: src.getTileWidth(level),
      tileOverlap: src.tileOverlap,
      minLevel: src.minLevel,
      maxLevel: level,
      tilesUrl: src.tilesUrl,
      fileFormat: src.fileFormat,
      queryParams: query,
    } as unknown as ConstructorParameters<typeof OpenSeadragon.DziTileSource>[0]);
    return new Promise((resolve, reject) => {
      this.osd.addTiledImage({
        tileSource: source,
        index: this.osd.world.getIndexOfItem(old),
        replace: true,
        success: (e: { item: OpenSeadragon.TiledImage }) => {
          this.item = e.item;
          resolve(e.item);
        },
        error: (e: { message?: string }) => reject(new Error(String(e.message))),
      } as unknown as Parameters<OpenSeadragon.Viewer['addTiledImage']>[0]);
    });
  }

  get tiled(): OpenSeadragon.TiledImage {
    if (!this.item) throw new Error('slide not open');
    return this.item;
  }

  transform(): Transform {
    const item = this.tiled;
    const p0 = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0));
    const p1 = item.imageToViewerElementCoordinates(new OpenSeadragon.Point(this.image.width, 0));
    return { s: (p1.x - p0.x) / this.image.width, ox: p0.x, oy: p0.y };
  }

  /** Level-0 pixel under a point given in viewer-element (CSS) pixels. */
  toImage(x: number, y: number): [number, number] {
    const t = this.transform();
    return [(x - t.ox) / t.s, (y - t.oy) / t.s];
  }

  toScreen(x: number, y: number): [number, number] {
    const t = this.transform();
    return [x * t.s + t.ox, y * t.s + t.oy];
  }

  /** The level-0 rectangle on screen (current, not the animation target). */
  visible(current = true): BBox {
    const r = this.tiled.viewportToImageRectangle(this.osd.viewport.getBounds(current));
    return { minX: r.x, minY: r.y, maxX: r.x + r.width, maxY: r.y + r.height };
  }

  fitImageRect(b: BBox, immediately = false): void {
    const r = this.tiled.imageToViewportRectangle(b.minX, b.minY, b.maxX - b.minX, b.maxY - b.minY);
    this.osd.viewport.fitBounds(r, immediately);
  }

  panToImage(x: number, y: number, immediately = false): void {
    this.osd.viewport.panTo(this.tiled.imageToViewportCoordinates(x, y), immediately);
  }
}

/** The viewport from `?xmin=&ymin=&xmax=&ymax=` (EXACT's viewer URL), if complete and sane. */
export function viewportFromUrl(): BBox | null {
  const q = new URLSearchParams(location.search);
  const v = ['xmin', 'ymin', 'xmax', 'ymax'].map((k) => Number(q.get(k)));
  if (v.some((n) => !Number.isFinite(n)) || !q.has('xmin')) return null;
  const [minX, minY, maxX, maxY] = v;
  if (maxX <= minX || maxY <= minY) return null;
  return { minX, minY, maxX, maxY };
}

/** Keeps `?xmin=&ymin=&xmax=&ymax=` (and `z`/`frame` when there are several) in step with the view. */
export function writeViewportToUrl(b: BBox, plane: { z: number; frame: number } | null): void {
  const q = new URLSearchParams(location.search);
  if (plane !== null) {
    q.set('z', String(plane.z));
    q.set('frame', String(plane.frame));
  }
  q.set('xmin', String(Math.round(b.minX)));
  q.set('ymin', String(Math.round(b.minY)));
  q.set('xmax', String(Math.round(b.maxX)));
  q.set('ymax', String(Math.round(b.maxY)));
  history.replaceState(history.state, '', `${location.pathname}?${q.toString()}`);
}

/** Objective magnification of the view: the scanner's power times the screen/pixel ratio. */
export function magnification(image: Image, s: number): string {
  const power = image.objectivePower > 1 ? image.objectivePower : image.mpp > 0 ? 10 / image.mpp : 0;
  if (power <= 0) return `${(s * 100).toFixed(0)} %`;
  const m = power * s;
  return `${m >= 10 ? m.toFixed(0) : m.toFixed(1)}×`;
}

/** A scale bar of a round length between ~60 and ~150 screen pixels. */
export function scaleBar(mpp: number, s: number): { px: number; label: string } | null {
  if (mpp <= 0 || s <= 0) return null;
  const umPerPx = mpp / s;
  const target = 100 * umPerPx;
  const p = 10 ** Math.floor(Math.log10(target));
  const nice = [1, 2, 5, 10].map((m) => m * p).reduce((a, b) => (Math.abs(b - target) < Math.abs(a - target) ? b : a));
  const label = nice >= 1000 ? `${nice / 1000} mm` : `${nice} µm`;
  return { px: nice / umPerPx, label };
}

export interface FilterSettings {
  brightness: number;
  contrast: number;
  gamma: number;
}

/** Applies brightness (−1…1), contrast (0…3) and gamma (0.2…5) to the slide only (not the overlay). */
export function applyFilter(target: HTMLElement, f: FilterSettings): void {
  const neutral = f.brightness === 0 && f.contrast === 1 && f.gamma === 1;
  let svg: Element | null = document.getElementById('exact-filter-svg');
  if (!svg) {
    const made = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg = made;
    made.id = 'exact-filter-svg';
    made.setAttribute('width', '0');
    made.setAttribute('height', '0');
    made.style.position = 'absolute';
    document.body.appendChild(made);
  }
  const funcs = (tag: string, attrs: string) =>
    ['R', 'G', 'B'].map((c) => `<feFunc${c} type="${tag}" ${attrs}/>`).join('');
  svg.innerHTML =
    `<filter id="exact-filter" color-interpolation-filters="sRGB">` +
    `<feComponentTransfer>${funcs('gamma', `amplitude="1" exponent="${1 / f.gamma}" offset="${f.brightness}"`)}</feComponentTransfer>` +
    `<feComponentTransfer>${funcs('linear', `slope="${f.contrast}" intercept="${0.5 - 0.5 * f.contrast}"`)}</feComponentTransfer>` +
    `</filter>`;
  target.style.filter = neutral ? '' : 'url(#exact-filter)';
}
