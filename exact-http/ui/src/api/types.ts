// The REST API's JSON shapes the UI reads (EXACT.md §3.2), typed once for every page.

export type Id = number;

export interface User {
  id: Id;
  username: string;
  is_superuser?: boolean;
}

export interface Page<T> {
  count: number;
  next: string | null;
  previous: string | null;
  results: T[];
}

/** `annotations/counts/`: matches in total and per type id. */
export interface Counts {
  image: Id;
  count: number;
  by_type: Record<string, number>;
}

export type PixelState = 'ready' | 'converting' | 'failed';

export interface Image {
  id: Id;
  image_set: Id;
  name: string;
  width: number;
  height: number;
  mpp: number;
  objectivePower: number;
  frames: number;
  depth: number;
  state?: PixelState;
  state_detail?: string;
}

export interface ImageSet {
  id: Id;
  name: string;
  images: Id[];
  product_set: Id[];
  team: Id | null;
  collaboration_type?: number | string;
}

/** EXACT's vector types (EXACT.md §1). */
export const enum VectorType {
  Box = 1,
  Point = 2,
  Line = 3,
  MultiLine = 4,
  Polygon = 5,
  FixedBox = 6,
  Global = 7,
}

export interface AnnotationType {
  id: Id;
  name: string;
  vector_type: number;
  node_count: number;
  color_code: string;
  default_width: number;
  default_height: number;
  sort_order: number;
  closed: boolean;
  area_hit_test: boolean;
  product: Id | null;
  active?: boolean;
}

/** `{x1, y1, …, xn, yn}` in level-0 pixels, optionally with a `frame`. */
export type VectorJson = Record<string, number>;

export interface Annotation {
  id: Id;
  annotation_type: Id;
  vector: VectorJson | null;
  image: Id;
  user: Id | null;
  last_editor: Id | null;
  time: string;
  last_edit_time: string;
  deleted: boolean;
  description: string;
  unique_identifier: string;
  verified_by_user?: boolean;
  /** Free-form; a model proposal has `generated: true`, `model`, `version`, `score`. */
  meta_data?: Record<string, unknown> | null;
}

export interface Verification {
  id: Id;
  annotation: Id;
  user: Id;
  time: string;
  verified: boolean;
}

export interface ScreeningTile {
  Screened?: boolean;
  x_min?: number;
  y_min?: number;
  x_max?: number;
  y_max?: number;
}

export interface ScreeningMode {
  id: Id;
  image: Id;
  user: Id;
  screening_tiles: Record<string, ScreeningTile>;
  x_steps: number;
  y_steps: number;
  x_resolution: number;
  y_resolution: number;
  current_index: number;
}

export interface SlideInformation {
  id: Id;
  level_dimensions: [number, number][];
  level_downsamples: number[];
  levels: number;
}
