// The set page's "Import annotations": a file (format detected or chosen, dry run, create
// missing images/types) sent to `POST /api/v1/images/image_sets/<id>/import/?async=1`, then
// the job followed (`GET /api/v1/images/import_jobs/<job>/` every half second) until it ends:
// its state and progress, created / skipped / refused counts, each refused feature/row/line
// with the server's reason, and the report's notes; below, the set's recent import jobs.

import { ApiError, cookie, goLogin, reasonOf, request } from '../../api/client';
import type { Id } from '../../api/types';
import { h } from '../dom';
import { A, bytes, checkbox, clearErrors, field, select, showError, table } from './common';

interface Refusal {
  place: string;
  reason: string;
}

interface Report {
  format: string;
  read: number;
  created: number;
  skipped_duplicates: number;
  created_types: string[];
  created_images: string[];
  refused: Refusal[];
  refused_count: number;
  notes: string[];
  written: boolean;
  dry_run: boolean;
}

/** An import job as `GET /api/v1/images/import_jobs/<id>/` shows it. */
export interface ImportJob {
  id: Id;
  url: string;
  file_name: string;
  state: 'queued' | 'running' | 'done' | 'refused' | 'failed' | 'interrupted';
  finished: boolean;
  phase: string;
  progress: number;
  bytes_total: number;
  bytes_read: number;
  items_read: number;
  to_write: number;
  written: number;
  report: Report | null;
  error: string | null;
  attempts: number;
  created: string;
  updated: string;
}

const FORMATS: [string, string][] = [
  ['', 'Detect from the content'],
  ['geojson', 'GeoJSON (QuPath)'],
  ['coco', 'COCO JSON'],
  ['sliderunner', 'SlideRunner database'],
  ['asap', 'ASAP XML'],
  ['imagescope', 'Aperio ImageScope XML'],
  ['csv', 'CSV'],
  ['exact-labels', 'EXACT label lines'],
];

const POLL_MS = 500;

/** Counts as one line: what the job created, skipped as duplicates and refused. */
function counts(j: ImportJob): string {
  const r = j.report;
  if (!r) return j.finished ? '' : `${j.items_read} read, ${j.written} of ${j.to_write} written`;
  const created = r.dry_run ? `${r.created} to create (dry run)` : `${r.created} created`;
  return `${created}, ${r.skipped_duplicates} skipped as duplicates, ${r.refused_count} refused`;
}

function when(t: string): string {
  return t.replace('T', ' ').slice(0, 19);
}

/** One job in detail: state, progress, counts, refused items and notes. */
function jobView(j: ImportJob): HTMLElement {
  const r = j.report;
  const more = r && r.refused_count > r.refused.length ? ` (the first ${r.refused.length} of ${r.refused_count} are listed)` : '';
  return h(
    'div',
    { class: `import-job state-${j.state}`, 'data-job': j.id, 'data-state': j.state },
    h('p', {}, h('strong', { text: j.file_name }), ' — ', h('span', { class: 'import-state', text: j.finished ? j.state : `${j.state}: ${j.phase}` }), j.attempts > 1 ? ` (attempt ${j.attempts})` : ''),
    j.finished ? null : h('progress', { max: 1000, value: Math.round(j.progress * 1000), 'aria-label': `Progress of ${j.file_name}` }),
    j.finished ? null : h('p', { class: 'muted', text: `${bytes(j.bytes_read)} of ${bytes(j.bytes_total)} read` }),
    h('p', { class: 'import-counts', text: counts(j) }),
    r?.created_types.length ? h('p', { class: 'muted', text: `Types ${r.dry_run ? 'to create' : 'created'}: ${r.created_types.join(', ')}` }) : null,
    r?.created_images.length ? h('p', { class: 'muted', text: `Images ${r.dry_run ? 'to create' : 'created'}: ${r.created_images.join(', ')}` }) : null,
    j.error ? h('p', { class: 'error import-error', role: 'alert', text: j.error }) : null,
    r?.refused.length
      ? h('div', {}, h('p', { text: `Refused${more}; nothing was written:` }), h('ul', { class: 'import-refused' }, ...r.refused.map((x) => h('li', { text: `${x.place}: ${x.reason}` }))))
      : null,
    r?.notes.length ? h('ul', { class: 'import-notes muted' }, ...r.notes.map((n) => h('li', { text: n }))) : null,
  );
}

/** The file and options to the import endpoint as a job; resolves with the queued job. */
function send(set: Id, data: FormData, progress: (fraction: number) => void): Promise<ImportJob> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `${A}/images/image_sets/${set}/import/?async=1`);
    xhr.setRequestHeader('X-CSRFToken', cookie('csrftoken'));
    xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) progress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      let body: unknown = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = xhr.responseText;
      }
      if (xhr.status === 401) {
        goLogin();
        reject(new Error('Your session has ended; please log in again.'));
      } else if (xhr.status >= 200 && xhr.status < 300) resolve(body as ImportJob);
      else reject(new ApiError(xhr.status, reasonOf(body, xhr.status), body));
    });
    xhr.addEventListener('error', () => reject(new Error('The connection failed; nothing was imported.')));
    xhr.send(data);
  });
}

/** The "Import annotations" card; `changed` runs when a job has written annotations. */
export function importer(set: Id, changed: () => void): HTMLElement {
  const current = h('div', { id: 'import-progress', 'aria-live': 'polite' });
  const jobsBox = h('div', { id: 'import-jobs' });
  let following = 0;

  const follow = async (job: ImportJob): Promise<void> => {
    const mine = ++following;
    let j = job;
    current.replaceChildren(jobView(j));
    while (!j.finished && mine === following) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      j = await request<ImportJob>('GET', j.url);
      if (mine === following) current.replaceChildren(jobView(j));
    }
    if (j.finished) {
      await loadJobs();
      if (j.state === 'done' && j.report?.written) changed();
    }
  };

  const loadJobs = async (): Promise<void> => {
    const page = await request<{ count: number; results: ImportJob[] }>('GET', `${A}/images/image_sets/${set}/import/jobs/`);
    const recent = [...page.results].sort((a, b) => b.id - a.id).slice(0, 20);
    jobsBox.replaceChildren(
      recent.length
        ? table(
            'import-job-table',
            'Recent import jobs',
            ['File', 'Started', 'State', 'Result', ''],
            recent.map((j) => {
              const show = h('button', { type: 'button', text: 'Show', 'aria-label': `Show the import of ${j.file_name}` });
              show.addEventListener('click', () => void follow(j).catch((e: unknown) => current.replaceChildren(h('p', { class: 'error', role: 'alert', text: String(e instanceof Error ? e.message : e) }))));
              return [j.file_name, when(j.created), h('span', { class: `state state-${j.state}`, 'data-job-state': j.id, text: j.finished ? j.state : `${j.state} (${Math.round(j.progress * 100)} %)` }), counts(j), show];
            }),
          )
        : h('p', { class: 'muted', text: 'No import yet.' }),
    );
  };

  const file = h('input', { type: 'file', name: 'file', required: true });
  const upload = h('progress', { max: 100, value: 0, hidden: true, 'aria-label': 'Upload progress of the import file' });
  const f = h(
    'form',
    { id: 'import-form', 'aria-label': 'Import annotations', novalidate: true },
    field('Annotation file (GeoJSON, COCO, SlideRunner, ASAP, ImageScope, CSV, EXACT labels)', 'file', {}, file),
    field('Format', 'format', {}, select('format', FORMATS)),
    field('Image for items that name none (optional)', 'image'),
    checkbox('Dry run: check and report, write nothing', 'dry_run'),
    checkbox('Create missing images and annotation types', 'create_missing'),
    h('button', { type: 'submit', text: 'Import' }),
    upload,
    h('p', { class: 'form-error error', role: 'alert' }),
  );
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearErrors(f);
    const chosen = file.files?.[0];
    const slot = f.querySelector<HTMLElement>('[data-error-for="file"]');
    if (!chosen) {
      if (slot) slot.textContent = 'Choose a file to import.';
      file.focus();
      return;
    }
    const d = new FormData();
    d.append('file', chosen, chosen.name);
    const fd = new FormData(f);
    for (const k of ['format', 'image']) {
      const v = String(fd.get(k) ?? '').trim();
      if (v) d.append(k, v);
    }
    for (const k of ['dry_run', 'create_missing']) if (fd.get(k) !== null) d.append(k, 'true');
    d.append('async', '1');
    const button = f.querySelector<HTMLButtonElement>('button[type=submit]');
    if (button) button.disabled = true;
    upload.hidden = false;
    upload.value = 0;
    send(set, d, (p) => (upload.value = Math.round(p * 100)))
      .then(async (job) => {
        upload.hidden = true;
        f.reset();
        await loadJobs();
        await follow(job);
      })
      .catch((e: unknown) => {
        upload.hidden = true;
        showError(f, e);
      })
      .finally(() => {
        if (button) button.disabled = false;
      });
  });

  void loadJobs().catch((e: unknown) => jobsBox.replaceChildren(h('p', { class: 'error', role: 'alert', text: String(e instanceof Error ? e.message : e) })));
  return h(
    'section',
    { class: 'card', id: 'set-import', 'aria-label': 'Import annotations' },
    h('h2', { text: 'Import annotations' }),
    f,
    current,
    jobsBox,
  );
}
