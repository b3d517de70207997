// Browser test of the dashboard against a real `steward lab` (controller + 4 simulated hosts),
// driven headless through Debian's Chromium with playwright-core:
//   log in with the API token (a wrong one is refused), see the host table change live when a host
//   is locked through the CLI, lock another with the dashboard's button, see the API's refusal of
//   an illegal action shown as it is, and save screenshots.
//
// Run: cd web && npm ci && node tests/dashboard.mjs   (after `cargo build -p steward`)
// Environment: STEWARD_BIN (default ../target/debug/steward), STEWARD_CHROMIUM (default
// /usr/bin/chromium), STEWARD_SCREENSHOTS (default web/test-results).
//
// The lab exempts loopback clients from the token, so the browser reaches it through a
// non-loopback address of this machine to exercise the login; without one the login step is
// reported as skipped and the rest runs over loopback.

import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const bin = process.env.STEWARD_BIN || join(repo, 'target/debug/steward');
const browserPath = process.env.STEWARD_CHROMIUM || '/usr/bin/chromium';
const shots = process.env.STEWARD_SCREENSHOTS || join(repo, 'web/test-results');
// Bounds on a hung lab or browser, not timing assertions: a lock takes about a second.
const WAIT = 60_000;

function step(what) {
  console.log(`dashboard test: ${what}`);
}

function fail(message) {
  throw new Error(message);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, f) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) fail(`never happened: ${what}`);
    await sleep(100);
  }
}

/** `steward …` against the lab over loopback; resolves with {code, stdout, stderr}. */
function steward(url, args) {
  return new Promise((res) => {
    execFile(bin, args, { env: { ...process.env, STEWARD_URL: url } }, (err, stdout, stderr) =>
      res({ code: err ? err.code : 0, stdout, stderr }),
    );
  });
}

function outsideAddress() {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs || []) {
      if (a.family === 'IPv4' && !a.internal) return a.address;
    }
  }
  return null;
}

async function main() {
  if (!existsSync(bin)) fail(`no steward binary at ${bin}: run cargo build -p steward first`);
  if (!existsSync(browserPath)) fail(`no browser at ${browserPath}: apt-get install chromium`);
  mkdirSync(shots, { recursive: true });
  const dataDir = mkdtempSync(join(tmpdir(), 'steward-dashboard-'));
  const urlFile = join(dataDir, 'url');
  const outside = outsideAddress();
  const listen = outside ? '0.0.0.0:0' : '127.0.0.1:0';
  step(`starting steward lab (${bin}, listening on ${listen})`);
  const lab = spawn(bin, ['lab', '--fast', '--data-dir', dataDir, '--listen', listen, '--url-file', urlFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let labOutput = '';
  lab.stdout.on('data', (d) => (labOutput += d));
  lab.stderr.on('data', (d) => (labOutput += d));
  let labExited = false;
  lab.on('exit', () => (labExited = true));
  let browser;
  try {
    const url = await until('the lab serves its API', () => {
      if (labExited) fail(`steward lab exited:\n${labOutput}`);
      return existsSync(urlFile) && readFileSync(urlFile, 'utf8').trim();
    });
    const port = new URL(url).port;
    const local = `http://127.0.0.1:${port}`;
    const base = `http://${outside || '127.0.0.1'}:${port}`;
    const token = readFileSync(join(dataDir, 'api.token'), 'utf8').trim();
    if (!labOutput.includes('/ui/')) {
      await until('the lab prints the dashboard URL', () => labOutput.includes('dashboard: '));
    }

    browser = await chromium.launch({ executablePath: browserPath, headless: true, args: ['--no-sandbox'] });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(WAIT);
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${base}/ui/`);

    if (outside) {
      step(`logging in over ${base} (a non-loopback address: the lab wants the token)`);
      await page.locator('#login').waitFor({ state: 'visible' });
      await page.fill('#token', 'not-the-token');
      await page.click('#login-submit');
      await page.locator('#login-error', { hasText: 'not valid' }).waitFor();
      await page.fill('#token', token);
      await page.click('#login-submit');
      await page.locator('#login').waitFor({ state: 'hidden' });
    } else {
      step('SKIPPED the login: this machine has no non-loopback address, and loopback needs no token');
    }

    const row = (host) => `#hosts tr[data-host="${host}"]`;
    const admin = (host, word) => page.locator(`${row(host)} td.admin .pill.st-${word}`);
    step('the host table shows the running cluster, live');
    await page.locator('#live.on').waitFor();
    for (const h of ['controller-0', 'controller-1', 'worker-0', 'worker-1']) {
      await page.locator(`${row(h)} td.avail .pill.st-available`).waitFor();
    }
    await admin('worker-0', 'unlocked').waitFor();

    step('steward host lock worker-0 (CLI): the table follows without a reload');
    const navigations = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    const locked = await steward(local, ['host', 'lock', 'worker-0']);
    if (locked.code !== 0) fail(`steward host lock worker-0 failed: ${locked.stderr}`);
    await admin('worker-0', 'locked').waitFor();
    await page.locator(`${row('worker-0')} td.avail .pill.st-online`).waitFor();
    if (navigations.length) fail(`the page reloaded instead of updating live: ${navigations}`);
    await page.screenshot({ path: join(shots, 'hosts-after-cli-lock.png'), fullPage: true });

    step('lock worker-1 with the dashboard button, after confirming');
    await page.click(`${row('worker-1')} button.act[data-action="lock"]`);
    await page.locator('#confirm-text', { hasText: 'Lock worker-1?' }).waitFor();
    await page.click('#confirm-ok');
    await page.locator('#confirm').waitFor({ state: 'hidden' });
    await admin('worker-1', 'locked').waitFor();
    await page.locator(`${row('worker-1')} td.oper .pill.st-disabled`).waitFor();

    step('an illegal action (lock the active controller) shows the API refusal as it is');
    const cli = await steward(local, ['host', 'lock', 'controller-0']);
    if (cli.code !== 1) fail(`the CLI should be refused: ${cli.code} ${cli.stdout}${cli.stderr}`);
    // The CLI prints `error: <the API's text> (HTTP 409)`: the dashboard must show that text.
    const refusal = cli.stderr.trim().replace(/^error: /, '').replace(/ \(HTTP 409\)$/, '');
    if (!refusal.includes('Cannot lock the active controller')) fail(`unexpected refusal: ${cli.stderr}`);
    await page.click('a[href="#/host/controller-0"]');
    await page.click('.actions button.act[data-action="lock"]');
    await page.click('#confirm-ok');
    await until('the refusal shows', async () => (await page.locator('#confirm-result').textContent()) !== '');
    const text = await page.locator('#confirm-result').textContent();
    if (text !== refusal) fail(`the dashboard shows "${text}", the API said "${refusal}"`);
    await page.screenshot({ path: join(shots, 'refusal.png'), fullPage: true });
    await page.click('#confirm-cancel');
    await page.locator('#confirm').waitFor({ state: 'hidden' });

    step('host detail, alarms and events pages render');
    await page.goto(`${base}/ui/#/host/worker-0`);
    await page.locator('h2', { hasText: 'Inventory' }).waitFor();
    await page.locator('section', { hasText: 'Events' }).locator('td', { hasText: 'lock' }).first().waitFor();
    await page.screenshot({ path: join(shots, 'host-worker-0.png'), fullPage: true });
    await page.click('a[data-nav="events"]');
    await page.fill('#f-events-host', 'worker-1');
    await until('the events filter applies', async () => {
      const hosts = await page.locator('table.events tbody tr td:nth-child(3)').allTextContents();
      return hosts.length > 0 && hosts.every((h) => h === 'worker-1');
    });
    await page.click('a[data-nav="alarms"]');
    await page.locator('h1', { hasText: 'Active alarms' }).waitFor();
    await page.click('a[data-nav="hosts"]');
    await page.screenshot({ path: join(shots, 'dashboard.png'), fullPage: true });
    step(`passed; screenshots in ${shots}`);
  } finally {
    if (browser) await browser.close();
    lab.kill('SIGINT');
    await until('the lab stops', () => labExited).catch(() => lab.kill('SIGKILL'));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`dashboard test FAILED: ${e.message}`);
  process.exit(1);
});
