// `/images/`: my teams and their image sets (search by name or tag, tags, priority, pinning,
// counts of images and annotations), creating a set or a team.

import { request } from '../../api/client';
import { h } from '../dom';
import { A, type SetFull, type SetTag, type Team, all, field, form, frame, num, select, str } from './common';

const PRIORITY: Record<string, string> = { '1': 'high', '0': 'normal', '-1': 'low' };

export async function setsPage(): Promise<void> {
  const { main } = await frame('Image sets');
  const [teams, sets, tags] = await Promise.all([
    all<Team>(`${A}/users/teams/`),
    all<SetFull>(`${A}/images/image_sets/`),
    all<SetTag>(`${A}/images/set_tags/`),
  ]);
  const tagName = new Map(tags.map((t) => [t.id, t.name]));
  const search = h('input', { type: 'search', id: 'set-search', placeholder: 'name or tag', 'aria-label': 'Search image sets' });
  const list = h('div', { id: 'team-list' });
  const counts = new Map<number, HTMLElement>();

  const render = (): void => {
    const q = search.value.trim().toLowerCase();
    const match = (s: SetFull): boolean =>
      !q || s.name.toLowerCase().includes(q) || s.set_tags.some((t) => (tagName.get(t) ?? '').toLowerCase().includes(q));
    const sections = teams.map((t) => {
      const mine = sets
        .filter((s) => s.team === t.id && match(s))
        .sort((a, b) => Number(b.pinned ?? false) - Number(a.pinned ?? false) || b.priority - a.priority || a.name.localeCompare(b.name));
      return h(
        'section',
        { class: 'card team', 'aria-label': `Team ${t.name}` },
        h('h2', {}, h('a', { href: `/users/team/${t.id}/`, text: t.name })),
        mine.length
          ? h('ul', { class: 'sets' }, ...mine.map((s) => setItem(s)))
          : h('p', { class: 'muted', text: q ? 'No set matches.' : 'No image sets yet.' }),
      );
    });
    list.replaceChildren(...(sections.length ? sections : [h('p', { text: 'You are not in a team yet: create one below, or ask a team admin to add you.' })]));
  };

  const setItem = (s: SetFull): HTMLElement => {
    const pin = h('button', {
      type: 'button',
      class: 'pin',
      'aria-pressed': s.pinned ? 'true' : 'false',
      'aria-label': `${s.pinned ? 'Unpin' : 'Pin'} ${s.name}`,
      text: s.pinned ? '★' : '☆',
    });
    pin.addEventListener('click', () => {
      void request<SetFull>('PATCH', `${A}/images/image_sets/${s.id}/`, { pinned: !s.pinned }).then((n) => {
        s.pinned = n.pinned;
        render();
        document.querySelector<HTMLElement>(`[data-set="${s.id}"] .pin`)?.focus();
      });
    });
    let count = counts.get(s.id);
    if (!count) {
      count = h('span', { class: 'muted count', text: `${s.images.length} images` });
      counts.set(s.id, count);
      const el = count;
      if (s.images.length) {
        void request<{ total: number }>('GET', `${A}/images/image_sets/${s.id}/annotation_counts/`).then(
          (p) => (el.textContent = `${s.images.length} images · ${p.total} annotations`),
          () => undefined,
        );
      } else el.textContent = '0 images · 0 annotations';
    }
    return h(
      'li',
      { 'data-set': s.id },
      pin,
      h('a', { href: `/images/imageset/${s.id}/`, text: s.name }),
      s.priority !== 0 ? h('span', { class: `prio prio-${PRIORITY[String(s.priority)]}`, text: `${PRIORITY[String(s.priority)]} priority` }) : null,
      ...s.set_tags.map((t) => h('span', { class: 'tag', text: tagName.get(t) ?? String(t) })),
      count,
    );
  };

  search.addEventListener('input', render);
  render();

  const teamOptions: [string, string][] = teams.map((t) => [String(t.id), t.name]);
  const createSet = form(
    'create-set',
    'Create an image set',
    [
      field('Name', 'name', { required: true }),
      field('Team', 'team', {}, select('team', [['', '— choose —'], ...teamOptions], teamOptions.length === 1 ? teamOptions[0]![0] : '')),
      field('Description', 'description'),
      field('Priority', 'priority', {}, select('priority', [['0', 'normal'], ['1', 'high'], ['-1', 'low']], '0')),
    ],
    'Create set',
    async (d) => {
      const s = await request<SetFull>('POST', `${A}/images/image_sets/`, {
        name: str(d, 'name'),
        team: num(d, 'team'),
        description: str(d, 'description'),
        priority: num(d, 'priority'),
      });
      location.assign(`/images/imageset/${s.id}/`);
    },
  );
  const createTeam = form('create-team', 'Create a team', [field('Team name', 'name', { required: true })], 'Create team', async (d) => {
    const t = await request<Team>('POST', `${A}/users/teams/`, { name: str(d, 'name') });
    location.assign(`/users/team/${t.id}/`);
  });
  main.append(h('div', { class: 'toolbar' }, h('label', { for: 'set-search', text: 'Search ' }), search), list, h('div', { class: 'forms' }, createSet, createTeam));
}
