// Upload by drag and drop (or the file picker): one request per file to EXACT's UI upload
// (`POST /images/image/upload/<set>/`, field `files[]`), at most two at a time, each with its
// own progress bar, its own server reason when refused (a zip lists each entry), and a retry
// button; the other files go on regardless.

import { cookie, goLogin, reasonOf } from '../../api/client';
import type { Id } from '../../api/types';
import { h } from '../dom';
import { bytes } from './common';

interface UploadedEntry {
  name: string;
  size: number;
  id: Id;
  error?: string;
}

const PARALLEL = 2;

/** The drop zone and the per-file list; `done` runs after each file finishes (to refresh). */
export function uploader(set: Id, done: () => void): HTMLElement {
  const input = h('input', { type: 'file', multiple: true, id: 'upload-input', class: 'visually-hidden' });
  const pick = h('label', { for: 'upload-input', class: 'button', text: 'Choose files…' });
  const zone = h(
    'div',
    { id: 'dropzone', class: 'dropzone', tabindex: 0, role: 'button', 'aria-describedby': 'dropzone-help', 'aria-label': 'Upload images: drop files here or press Enter to choose' },
    h('p', { id: 'dropzone-help', text: 'Drop slides, pictures or zips here (many at once), or ' }),
    pick,
    input,
  );
  const list = h('ul', { id: 'upload-list', class: 'uploads', 'aria-live': 'polite' });
  const queue: (() => Promise<void>)[] = [];
  let running = 0;

  const pump = (): void => {
    while (running < PARALLEL && queue.length) {
      const job = queue.shift()!;
      running++;
      void job().finally(() => {
        running--;
        done();
        pump();
      });
    }
  };

  const add = (file: File): void => {
    const bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress of ${file.name}` });
    const status = h('span', { class: 'upload-status', text: 'waiting' });
    const retry = h('button', { type: 'button', class: 'retry', text: 'Retry', hidden: true, 'aria-label': `Retry ${file.name}` });
    const errors = h('ul', { class: 'upload-errors' });
    const row = h('li', { class: 'upload', 'data-file': file.name }, h('span', { class: 'upload-name', text: `${file.name} (${bytes(file.size)})` }), bar, status, retry, errors);
    list.append(row);
    const run = async (): Promise<void> => {
      retry.hidden = true;
      errors.replaceChildren();
      row.dataset.state = 'uploading';
      status.textContent = 'uploading';
      try {
        const entries = await send(set, file, (p) => {
          bar.value = Math.round(p * 100);
          if (p >= 1) status.textContent = 'processing';
        });
        bar.value = 100;
        const bad = entries.filter((e) => e.error);
        for (const e of bad) errors.append(h('li', { class: 'error', role: 'alert', text: entries.length > 1 || e.name !== file.name ? `${e.name}: ${e.error}` : e.error }));
        const good = entries.length - bad.length;
        row.dataset.state = bad.length ? (good ? 'partial' : 'error') : 'done';
        status.textContent = bad.length ? (good ? `${good} added, ${bad.length} refused` : 'refused') : entries.length > 1 ? `${good} images added` : 'added';
        // A duplicate stays one: retrying it cannot help.
        if (bad.length && !good && !bad.every((e) => e.error?.startsWith('Duplicate'))) retry.hidden = false;
      } catch (e) {
        row.dataset.state = 'error';
        status.textContent = 'failed';
        errors.append(h('li', { class: 'error', role: 'alert', text: String(e instanceof Error ? e.message : e) }));
        retry.hidden = false;
      }
    };
    retry.addEventListener('click', () => {
      queue.push(run);
      pump();
    });
    queue.push(run);
  };

  const addAll = (files: FileList | null): void => {
    if (!files) return;
    for (const f of Array.from(files)) add(f);
    pump();
  };
  input.addEventListener('change', () => {
    addAll(input.files);
    input.value = '';
  });
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    addAll(e.dataTransfer?.files ?? null);
  });
  return h('section', { class: 'card', 'aria-label': 'Upload' }, h('h2', { text: 'Upload images' }), zone, list);
}

/** One file to the set; resolves with the server's per-entry results, rejects with its reason. */
function send(set: Id, file: File, progress: (fraction: number) => void): Promise<UploadedEntry[]> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/images/image/upload/${set}/`);
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
      } else if (xhr.status >= 200 && xhr.status < 300) {
        resolve((body as { files: UploadedEntry[] }).files);
      } else reject(new Error(reasonOf(body, xhr.status)));
    });
    xhr.addEventListener('error', () => reject(new Error('The connection failed; the file was not stored.')));
    const data = new FormData();
    data.append('files[]', file, file.name);
    xhr.send(data);
  });
}
