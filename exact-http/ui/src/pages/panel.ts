// The viewer's side panel: types (hotkey, colour, count, visibility, image-level labels), the
// selected annotation (type, remark, UUID, editors, verifications, measurements), a searchable
// list of the held annotations (virtualised: only the visible rows exist), the image filter,
// screening controls and the feed of colleagues' edits.

import { api, username } from '../api/client';
import type { Id } from '../api/types';
import { VectorType } from '../api/types';
import type { Held } from '../state/annotations';
import { formatArea, formatLength, isRectLike, pathLength, polygonArea } from '../viewer/geometry';
import { applyFilter } from '../viewer/osd';
import { isClosed } from '../viewer/overlay';
import { proposalControl } from '../viewer/proposals';
import { h } from './dom';
import type { ViewerPage } from './viewer';

const ROW = 22;

export class Panel {
  private readonly root: HTMLElement;
  private readonly typesBox = h('section', { id: 'types' });
  private readonly selectedBox = h('section', { id: 'selected' });
  private readonly rulerBox = h('div', { id: 'ruler' });
  private readonly search = h('input', { id: 'search', type: 'search', placeholder: 'Search id, uuid, type, remark…' });
  private readonly listBox = h('div', { id: 'annotation-list', class: 'vlist' });
  private readonly listInner = h('div', { class: 'vlist-inner' });
  private readonly feed = h('ol', { id: 'feed', class: 'feed' });
  private rows: Held[] = [];
  private listVersion = -1;
  private pending = 0;

  constructor(private readonly page: ViewerPage) {
    this.root = document.getElementById('panel') as HTMLElement;
    this.listBox.appendChild(this.listInner);
    this.listBox.addEventListener('scroll', () => this.paintList());
    this.search.addEventListener('input', () => {
      this.listVersion = -1;
      this.changed();
    });
    this.root.replaceChildren(
      h('h2', { text: 'Annotation types' }),
      this.typesBox,
      proposalControl(() => this.page.redraw()),
      this.modeBox(),
      this.rulerBox,
      h('h2', { text: 'Selected annotation' }),
      this.selectedBox,
      h('h2', { text: 'Annotations' }),
      this.search,
      this.listBox,
      h('h2', { text: 'Image filter' }),
      this.filterBox(),
      h('h2', { text: 'Screening' }),
      h('div'),
      h('h2', { text: 'Live' }),
      this.feed,
    );
    this.showSelected();
  }

  /** The screening controls go in the slot after their heading (built by Screening). */
  mountScreening(el: HTMLElement): void {
    const headings = this.root.querySelectorAll('h2');
    for (const hd of headings) if (hd.textContent === 'Screening') hd.nextElementSibling?.replaceWith(el);
  }

  private modeBox(): HTMLElement {
    const btn = (m: 'select' | 'draw' | 'ruler', label: string) => {
      const b = h('button', { type: 'button', id: `mode-${m}`, text: label });
      b.addEventListener('click', () => this.page.setMode(m));
      return b;
    };
    return h('div', { class: 'modes' }, btn('select', 'Select (c)'), btn('draw', 'Draw (c)'), btn('ruler', 'Ruler (m)'));
  }

  render(): void {
    const p = this.page;
    this.typesBox.replaceChildren(
      ...p.ordered.map((t, i) => {
        const global = t.vector_type === VectorType.Global;
        const vis = h('input', { type: 'checkbox', title: 'show', checked: !p.hidden.has(t.id), class: 'vis' });
        vis.addEventListener('change', () => {
          if (vis.checked) p.hidden.delete(t.id);
          else p.hidden.add(t.id);
          p.loader.refreshOverview();
          p.redraw();
        });
        const row = h(
          'div',
          { class: `type${p.current?.id === t.id ? ' current' : ''}`, 'data-type': t.id },
          h('kbd', { text: i < 9 ? String(i + 1) : '' }),
          h('span', { class: 'swatch', style: `background:${t.color_code}` }),
          h('span', { class: 'name', text: t.name }),
          h('span', { class: 'count', text: String(p.counts.get(t.id) ?? '…') }),
        );
        if (global) {
          const on = h('input', { type: 'checkbox', class: 'global', title: 'image label', checked: p.globals.has(t.id) });
          on.addEventListener('change', () => void p.toggleGlobal(t));
          row.append(on);
        } else {
          row.append(vis);
          row.addEventListener('click', (e) => {
            if (e.target !== vis) p.chooseType(t);
          });
        }
        return row;
      }),
    );
    for (const m of ['select', 'draw', 'ruler']) {
      document.getElementById(`mode-${m}`)?.classList.toggle('active', p.mode === m);
    }
  }

  /** Annotations changed: counts, list and the selected one's details. */
  changed(): void {
    // Coalesced: a page of 5,000 annotations arriving is one panel update, not 5,000.
    if (this.pending) return;
    this.pending = window.setTimeout(() => {
      this.pending = 0;
      this.render();
      this.rebuildList();
      if (this.page.selected !== null) this.showSelected();
    }, 30);
  }

  showSelected(): void {
    const p = this.page;
    const held = p.selected !== null ? p.store.byId.get(p.selected) : undefined;
    const a = held?.raw;
    const t = held ? p.types.get(held.type) : undefined;
    if (!held || !a || !t) {
      this.selectedBox.replaceChildren(h('p', { class: 'muted', text: 'Nothing selected (click an annotation in select mode).' }));
      return;
    }
    // Re-rendered after every change nearby (a colleague's edit, a viewport fetch, our own save):
    // the same annotation keeps its textarea node, so a remark being typed survives it (text,
    // caret and focus), even one typed while the re-render runs.
    const old = document.getElementById('remark') as HTMLTextAreaElement | null;
    const same = old !== null && old.dataset.for === String(a.id);
    const remark = same ? old : h('textarea', { id: 'remark', rows: 2, maxlength: 1000, 'data-for': a.id });
    if (!same || remark.value === remark.dataset.saved) remark.value = a.description;
    remark.dataset.saved = a.description;
    const focused = same && document.activeElement === remark;
    const caret = [remark.selectionStart, remark.selectionEnd];
    // Kept too: a click whose press and release straddle a re-render still lands.
    const save = (same && document.getElementById('save-remark')) || h('button', { type: 'button', id: 'save-remark', text: 'Save remark' });
    save.onclick = () => void p.updateRemark(a.id, remark.value);
    const first = h('dd', { id: 'first-editor', text: '…' });
    const last = h('dd', { id: 'last-editor', text: '…' });
    void username(a.user).then((n) => (first.textContent = n));
    void username(a.last_editor).then((n) => (last.textContent = n));
    const verifications = h('dd', { id: 'verifications', text: '…' });
    void api.verifications({ annotation: a.id }).then(
      (v) =>
        (verifications.textContent = v.results.length
          ? v.results.map((x) => `${x.verified ? '✔' : '✘'} user ${x.user}`).join(', ')
          : 'none'),
      () => (verifications.textContent = '?'),
    );
    const c = held.coords;
    const mpp = p.image.mpp;
    const measures: string[] = [];
    if (c && t.vector_type === VectorType.Polygon) {
      measures.push(`area ${formatArea(polygonArea(c), mpp)}`, `perimeter ${formatLength(pathLength(c, true), mpp)}`);
    } else if (c && isRectLike(t.vector_type)) {
      measures.push(`${formatLength(c[2] - c[0], mpp)} × ${formatLength(c[3] - c[1], mpp)}`);
    } else if (c) {
      measures.push(`length ${formatLength(pathLength(c, isClosed(t)), mpp)}`);
    }
    this.selectedBox.replaceChildren(
      h(
        'dl',
        {},
        h('dt', { text: 'Type' }),
        h('dd', { id: 'selected-type', text: t.name }),
        h('dt', { text: 'Id' }),
        h('dd', { id: 'selected-id', text: String(a.id) }),
        h('dt', { text: 'UUID' }),
        h('dd', { id: 'selected-uuid', class: 'mono', text: a.unique_identifier }),
        h('dt', { text: 'First editor' }),
        first,
        h('dt', { text: 'Last editor' }),
        last,
        h('dt', { text: 'Verified' }),
        verifications,
        h('dt', { text: 'Size' }),
        h('dd', { id: 'measure', text: measures.join(', ') }),
      ),
      remark,
      save,
    );
    if (focused) {
      remark.focus();
      remark.setSelectionRange(caret[0], caret[1]);
    }
  }

  showRuler(): void {
    const r = this.page.ruler;
    this.rulerBox.textContent = r ? `Ruler: ${formatLength(Math.hypot(r[2] - r[0], r[3] - r[1]), this.page.image.mpp)}` : '';
  }

  private rebuildList(): void {
    const store = this.page.store;
    if (this.listVersion === store.version) return;
    const q = this.search.value.trim().toLowerCase();
    // A few additions (a save, a colleague's new annotation) go into their place in the sorted
    // rows; rebuilding the list of thousands held would delay the frame that shows the save.
    const added = this.listVersion >= 0 && !q ? store.addedSince(this.listVersion) : null;
    this.listVersion = store.version;
    if (added && added.length <= 64) {
      for (const held of added) {
        if (!held.raw) continue;
        let lo = 0;
        let hi = this.rows.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (this.rows[mid].id < held.id) lo = mid + 1;
          else hi = mid;
        }
        this.rows.splice(lo, 0, held);
      }
      this.listInner.style.height = `${this.rows.length * ROW}px`;
      this.paintList();
      return;
    }
    const types = this.page.types;
    const rows: Held[] = [];
    for (const held of store.byId.values()) {
      if (!held.raw) continue;
      if (q) {
        const a = held.raw;
        const hay = `${a.id} ${a.unique_identifier} ${types.get(a.annotation_type)?.name ?? ''} ${a.description}`.toLowerCase();
        if (!hay.includes(q)) continue;
      }
      rows.push(held);
    }
    rows.sort((a, b) => a.id - b.id);
    this.rows = rows;
    this.listInner.style.height = `${rows.length * ROW}px`;
    this.paintList();
  }

  /** Only the rows in the scrolled window exist as elements. */
  private paintList(): void {
    const top = this.listBox.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - 5);
    const last = Math.min(this.rows.length, Math.ceil((top + (this.listBox.clientHeight || 200)) / ROW) + 5);
    const els: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const held = this.rows[i];
      const t = this.page.types.get(held.type);
      const el = h(
        'div',
        { class: `row${held.id === this.page.selected ? ' current' : ''}`, style: `top:${i * ROW}px`, 'data-id': held.id },
        h('span', { class: 'swatch', style: `background:${t?.color_code ?? '#888'}` }),
        `#${held.id} ${t?.name ?? ''} ${held.raw?.description ?? ''}`,
      );
      el.addEventListener('click', () => this.page.jumpTo(held.id));
      els.push(el);
    }
    this.listInner.replaceChildren(...els);
  }

  private filterBox(): HTMLElement {
    const p = this.page;
    const slider = (key: 'brightness' | 'contrast' | 'gamma', min: number, max: number, step: number) => {
      const input = h('input', { type: 'range', id: `filter-${key}`, min, max, step, value: p.filter[key] });
      input.addEventListener('input', () => {
        p.filter[key] = Number(input.value);
        applyFilter(p.view.osd.drawer.canvas as HTMLElement, p.filter);
      });
      return h('label', { class: 'slider' }, key, input);
    };
    return h('div', { class: 'filters' }, slider('brightness', -0.5, 0.5, 0.02), slider('contrast', 0.2, 3, 0.05), slider('gamma', 0.2, 3, 0.05));
  }

  logEvent(text: string): void {
    this.feed.prepend(h('li', { text: `${new Date().toLocaleTimeString()} ${text}` }));
    while (this.feed.children.length > 30) this.feed.lastElementChild?.remove();
  }

  /** A stable sort of held ids (used by tests through the DOM). */
  ids(): Id[] {
    return this.rows.map((r) => r.id);
  }
}
