// Self-registration from the login page (issue 13): off by default, offered when `exact serve`
// runs with --allow-registration; the server's reason shown by the form; a new account lands
// on the home page. Its own server on an empty data directory (EXACT_BIN).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { browser } from './helpers.mjs';

const BIN = process.env.EXACT_BIN;
let base;
let work;
let server;
let b;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

before(async () => {
  assert.ok(BIN, 'EXACT_BIN names the exact binary (scripts/test-ui sets it)');
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'exact-register-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const log = fs.openSync(path.join(work, 'serve.log'), 'w');
  server = spawn(BIN, ['serve', '--data', path.join(work, 'data'), '--bind', `127.0.0.1:${port}`, '--allow-registration'], {
    env: { ...process.env, EXACT_ADMIN_PASSWORD: 'root-secret' },
    stdio: ['ignore', log, log],
  });
  for (let i = 0; i < 300; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // The refusal the test provokes on purpose.
  b = await browser([/^400 POST .*\/api\/v1\/auth\/register\/$/, /status of 400/]);
});

after(async () => {
  await b?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  fs.rmSync(work, { recursive: true, force: true });
});

test('a visitor creates an account on the login page and lands at home', async () => {
  const page = b.page;
  await page.goto(`${base}/`);
  await page.waitForURL(/\/user\/login\//);
  await page.waitForSelector('#register-form');
  await page.fill('#id_new_username', 'new/bie');
  await page.fill('#id_new_password', 'a-long-password');
  await page.click('#register-form button[type=submit]');
  await page.waitForFunction(() => document.getElementById('register-error')?.textContent?.includes('username'));
  await page.fill('#id_new_username', 'newbie');
  await Promise.all([page.waitForURL(/\/images\/$/), page.click('#register-form button[type=submit]')]);
  const me = await fetch(`${base}/api/v1/auth/me/`, {
    headers: { Authorization: 'Basic ' + Buffer.from('newbie:a-long-password').toString('base64') },
  });
  assert.equal(me.status, 200);
  assert.equal((await me.json()).is_superuser, false);
  assert.deepEqual(b.problems, [], 'console errors or failed requests');
});
