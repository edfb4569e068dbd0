// The management pages by the name the server's shell gives them (`<body data-page=…>`).

import { accountPage } from './account';
import { adminPage } from './admin';
import { manageAnnotationsPage } from './annotations';
import { imageSetPage } from './imageset';
import { productPage } from './product';
import { setsPage } from './sets';
import { teamPage } from './team';

const PAGES: Record<string, () => Promise<void>> = {
  sets: setsPage,
  imageset: imageSetPage,
  team: teamPage,
  product: productPage,
  manage: manageAnnotationsPage,
  account: accountPage,
  admin: adminPage,
};

/** The page's promise, or null when `page` is not a management page. */
export function managePage(page: string | undefined): Promise<void> | null {
  const run = page === undefined ? undefined : PAGES[page];
  return run ? run() : null;
}
