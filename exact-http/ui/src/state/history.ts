// Undo/redo over the server's records: every step is a server write (PATCH back, soft delete,
// restore), so an undone change is durable and visible to colleagues like any other edit.

import type { Id, VectorJson } from '../api/types';

export interface Shape {
  annotation_type: Id;
  vector: VectorJson | null;
}

export type Step =
  | { kind: 'create'; id: Id }
  | { kind: 'delete'; id: Id }
  | { kind: 'update'; id: Id; before: Shape; after: Shape };

export class History {
  private done: Step[] = [];
  private undone: Step[] = [];

  push(s: Step): void {
    this.done.push(s);
    if (this.done.length > 200) this.done.shift();
    this.undone = [];
  }

  takeUndo(): Step | undefined {
    const s = this.done.pop();
    if (s) this.undone.push(s);
    return s;
  }

  takeRedo(): Step | undefined {
    const s = this.undone.pop();
    if (s) this.done.push(s);
    return s;
  }

  /** Puts a step back when the server refused to undo/redo it. */
  restoreUndo(s: Step): void {
    this.undone.pop();
    this.done.push(s);
  }

  restoreRedo(s: Step): void {
    this.done.pop();
    this.undone.push(s);
  }
}
