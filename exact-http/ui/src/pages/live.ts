// Colleagues' edits within seconds: the server's event stream (contract 1 in ui-contract.md),
// or — when the server has none — polling `last_edit_time__gte` once a second. Each change
// says who made it.

import { ApiError, request, username } from '../api/client';
import type { Annotation, Id, Page } from '../api/types';
import { toast } from './dom';
import type { Change, ViewerPage } from './viewer';

interface EventData {
  op: Change;
  image: Id;
  annotation: Annotation;
  user?: { id: Id; username: string };
}

/** EXACT's timestamp format, UTC (the server's clock is UTC). */
function stamp(d: Date): string {
  return d.toISOString().replace('Z', '').replace(/\.(\d{3})$/, '.$1000');
}

export class Live {
  private since = '';
  private readonly seen = new Map<Id, string>();
  private polling = 0;

  constructor(private readonly page: ViewerPage) {}

  start(): void {
    if (typeof EventSource === 'undefined') return void this.poll();
    const es = new EventSource(`/api/v1/events/?image=${this.page.image.id}`, { withCredentials: true });
    es.addEventListener('annotation', (e) => {
      const data = JSON.parse((e as MessageEvent<string>).data) as EventData;
      if (data.image !== this.page.image.id) return;
      void this.apply(data.annotation, data.op, data.user?.username);
    });
    es.addEventListener('reset', () => void this.page.loader.reload());
    es.onerror = () => {
      // CLOSED: the server refused the stream (no such endpoint, or auth); reconnects are
      // EventSource's own business otherwise.
      if (es.readyState === EventSource.CLOSED) void this.poll();
    };
  }

  private async apply(a: Annotation, op: Change, who?: string): Promise<void> {
    const known = this.page.store.byId.get(a.id)?.raw ?? this.page.globals.get(a.annotation_type);
    if (known && known.id === a.id && known.last_edit_time === a.last_edit_time && known.deleted === a.deleted) return;
    if (!known && a.deleted && this.page.tombstones.has(a.id)) return;
    // Drawn on another plane of a stack: not this page's (it lists one plane).
    if (!known && !this.page.onThisPlane(a)) return;
    this.page.accept(a, op);
    this.page.loader.bustOverview();
    const editor = a.last_editor ?? a.user;
    if (editor === this.page.me.id) return;
    const name = who ?? (await username(editor));
    const type = this.page.types.get(a.annotation_type)?.name ?? 'annotation';
    toast(`${name} ${op} ${type} #${a.id}`);
    this.page.panel.logEvent(`${name} ${op} ${type} #${a.id}`);
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    const res = await fetch('/api/v1/', { credentials: 'same-origin' });
    const date = res.headers.get('date');
    // A little early: `gte` is inclusive and repeats are recognised by their edit time.
    this.since = stamp(new Date((date ? Date.parse(date) : Date.now()) - 2000));
    this.polling = window.setInterval(() => void this.tick(), 1000);
  }

  private async tick(): Promise<void> {
    let res: Page<Annotation>;
    try {
      const q = new URLSearchParams({ image: String(this.page.image.id), last_edit_time__gte: this.since, limit: '1000' });
      // A background poll never yanks the user to the login page mid-drawing: it stops, and the
      // user's next action (whose work is saved first) goes there.
      res = await request<Page<Annotation>>('GET', `/api/v1/annotations/annotations/?${q.toString()}`, undefined, false);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        clearInterval(this.polling);
        this.polling = 0;
      }
      return;
    }
    for (const a of res.results) {
      if (a.last_edit_time > this.since) this.since = a.last_edit_time;
      if (this.seen.get(a.id) === a.last_edit_time) continue;
      this.seen.set(a.id, a.last_edit_time);
      const op = a.deleted ? 'deleted' : a.time === a.last_edit_time ? 'created' : 'updated';
      await this.apply(a, op);
    }
  }
}
