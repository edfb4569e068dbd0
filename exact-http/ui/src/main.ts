// One bundle for every page: the server's shell names the page in `<body data-page=…>`.

import { ApiError } from './api/client';
import { h } from './pages/dom';
import { loginPage } from './pages/login';
import { managePage } from './pages/manage';
import { verifyPage } from './pages/verify';
import { viewerPage } from './pages/viewer';

async function main(): Promise<void> {
  const page = document.body.dataset.page;
  switch (page) {
    case 'login':
      return loginPage();
    case 'viewer':
      return viewerPage();
    case 'verify':
      return verifyPage();
    default:
      return managePage(page) ?? location.assign('/images/');
  }
}

main().catch((e: unknown) => {
  // A 401 is already on its way to the login page.
  if (e instanceof ApiError && e.status === 401) return;
  const text = e instanceof ApiError ? `${e.detail} (HTTP ${e.status})` : String(e);
  document.getElementById('app')?.replaceChildren(h('p', { class: 'page-error', role: 'alert', text }));
});
