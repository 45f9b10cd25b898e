// The dashboard end to end, as a person would use it: a real facetd on a loopback port (SQLite
// store in a temporary folder), Debian's chromium driven by playwright-core. Sign in (a wrong
// key first), create a collection, enrol the gallery by uploading its photos, see the
// identities with thumbnails, identify probes and read the right names, compare two photos,
// watch events arrive live from `facet watch` posting to facetd, name a stranger from the
// review list, read the server's figures, use it from the keyboard and on a phone-sized
// screen, and see the page say so when the server goes away. Prints TAP; a screenshot of each
// page goes to $FACET_WEB_SHOTS.
// usage: node dashboard.mjs FACETD FACET NODE_MODULES_PARENT
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const [facetd, facet, modules] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modules), 'package.json'));
const { chromium } = require('playwright-core');
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const data = path.join(root, '../shared/data');
const shots = process.env.FACET_WEB_SHOTS || os.tmpdir();
const KEY = 'dashboard-test-admin-key-0123456789';
// FACET_TEST_TIME_SCALE (tests/meson.build: 1 natively, more under qemu-user) multiplies the
// waits for facetd's and facet watch's work: the page's waits, facetd's start, the watch run.
const SCALE = Number(process.env.FACET_TEST_TIME_SCALE || '1');
if (!Number.isInteger(SCALE) || SCALE < 1) {
  console.error(`dashboard.mjs: FACET_TEST_TIME_SCALE must be an integer >= 1, not '${process.env.FACET_TEST_TIME_SCALE}'`);
  process.exit(2);
}

let n = 0, failed = 0;
const ok = (cond, name, detail = '') => {
  n++;
  if (!cond) failed++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && detail) console.log(String(detail).split('\n').map((l) => `# ${l}`).join('\n'));
  return cond;
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-web-'));
const log = path.join(tmp, 'facetd.log');
const server = spawn(facetd, ['--listen', '127.0.0.1:0', '--db', `sqlite:${path.join(tmp, 'facet.db')}`,
  '--log-file', log, '--workers', '2'], { env: { ...process.env, FACET_ADMIN_KEY: KEY }, stdio: 'ignore' });
let exited = null;
server.on('exit', (code, sig) => { exited = { code, sig }; });

async function port() {
  for (let i = 0; i < 300 * SCALE; i++) {
    const m = fs.existsSync(log) && fs.readFileSync(log, 'utf8').match(/listening on .* \(port (\d+)/);
    if (m) return Number(m[1]);
    if (exited) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`facetd did not start: ${fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : 'no log'}`);
}

let browser;
const step = async (name, fn) => {
  try { await fn(); } catch (e) { ok(false, name, e.stack || e); }
};

try {
  const p = await port();
  const base = `http://127.0.0.1:${p}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  ctx.setDefaultTimeout(30000 * SCALE); // playwright's default, 30 s natively
  const page = await ctx.newPage();
  const consoleErrors = [];
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const shot = (name) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

  await step('sign in', async () => {
    await page.goto(base + '/');
    ok(await page.isVisible('#page-signin'), 'the page opens on the sign-in form');
    await page.fill('#key', 'not-the-right-key-at-all');
    await page.click('#signin-form button');
    await page.waitForSelector('#banner:not([hidden])');
    ok(/refused/i.test(await page.textContent('#banner')), 'a wrong key is refused with a clear message',
      await page.textContent('#banner'));
    await shot('01-signin-refused');
    // the keyboard alone: type the key and press Enter
    await page.focus('#key');
    await page.fill('#key', KEY);
    await page.keyboard.press('Enter');
    await page.waitForSelector('#page-collections:not([hidden])');
    ok(await page.isVisible('#nav'), 'the right key signs in (from the keyboard) and shows the pages');
    ok(await page.evaluate(() => sessionStorage.getItem('facet.key')) === KEY &&
       await page.evaluate(() => localStorage.length) === 0, 'the key is kept in session storage only');
  });

  await step('create a collection', async () => {
    await page.fill('#new-name', 'people');
    await page.check('#new-keep');
    await page.click('#create-form button');
    await page.waitForSelector('#collections-table td >> text=people');
    ok(true, 'a collection created from the page is listed');
    await shot('02-collections');
  });

  const people = fs.readdirSync(path.join(data, 'gallery/enroll')).sort();
  await step('enrol the gallery', async () => {
    await page.click('nav >> text=Enrol');
    await page.waitForSelector('#page-enrol:not([hidden])');
    let all = true;
    for (const who of people) {
      const dir = path.join(data, 'gallery/enroll', who);
      const files = fs.readdirSync(dir).sort().map((f) => path.join(dir, f));
      await page.selectOption('#enrol-collection', 'people');
      await page.fill('#enrol-identity', who);
      await page.setInputFiles('#enrol-files', files);
      await page.click('#enrol-form button');
      await page.waitForSelector('#enrol-summary', { timeout: 60000 * SCALE });
      const summary = await page.textContent('#enrol-summary');
      all = ok(summary.startsWith(`${files.length} of ${files.length} photos enrolled`), `enrol ${who}: ${summary}`) && all;
      ok(await page.getAttribute('#enrol-progress', 'value') === String(files.length), `the progress bar reached ${files.length} for ${who}`);
    }
    ok(/sharpness/.test(await page.textContent('#enrol-results')), 'each photo shows its quality verdicts');
    await shot('03-enrol');
  });

  await step('identities with thumbnails', async () => {
    await page.click('nav >> text=Collections');
    await page.click('#collections-table >> text=people');
    await page.waitForSelector(`#identities-list li[data-identity="${people[people.length - 1]}"]`);
    const names = await page.$$eval('#identities-list li[data-identity]', (li) => li.map((x) => x.dataset.identity));
    ok(JSON.stringify(names) === JSON.stringify(people), 'every enrolled person is listed', names.join(','));
    await page.waitForFunction(() => [...document.querySelectorAll('#identities-list img')].filter((i) => i.complete && i.naturalWidth === 112).length >= 5,
      null, { timeout: 15000 * SCALE });
    ok(true, 'thumbnails are the stored 112x112 chips');
    await shot('04-identities');
  });

  await step('identify probes', async () => {
    await page.click('nav >> text=Identify');
    const probes = [['obama1.jpg', ['obama']], ['obama_and_biden.jpg', ['obama', 'biden']],
      ['kit_with_rose.jpg', ['kit_harington', 'rose_leslie']], ['alex_lacamoire1.jpg', ['alex_lacamoire']]];
    for (const [file, expect] of probes) {
      await page.selectOption('#identify-collection', 'people');
      await page.evaluate(() => { document.querySelector('#identify-summary').textContent = ''; });
      await page.setInputFiles('#identify-file', path.join(data, 'gallery/probe', file));
      await page.click('#identify-form button');
      await page.waitForFunction(() => /named|No face|Failed/.test(document.querySelector('#identify-summary').textContent),
        null, { timeout: 60000 * SCALE });
      const summary = await page.textContent('#identify-summary');
      ok(expect.every((w) => summary.includes(w)), `identify ${file}: ${summary}`);
    }
    ok(await page.isVisible('#identify-canvas'), 'the photo is drawn with boxes and names');
    await shot('05-identify');
  });

  await step('compare two photos', async () => {
    await page.click('nav >> text=Compare');
    await page.setInputFiles('#compare-a', path.join(data, 'gallery/enroll/obama/obama.jpg'));
    await page.setInputFiles('#compare-b', path.join(data, 'gallery/probe/obama1.jpg'));
    await page.click('#compare-form button');
    await page.waitForFunction(() => /person|people|Failed/.test(document.querySelector('#compare-result').textContent));
    const same = await page.textContent('#compare-result');
    ok(/^Same person: similarity 0\.\d+, match probability/.test(same), `two photos of Obama: ${same}`);
    await page.setInputFiles('#compare-b', path.join(data, 'gallery/enroll/biden/biden.jpg'));
    await page.click('#compare-form button');
    await page.waitForFunction((prev) => document.querySelector('#compare-result').textContent !== prev &&
      /person|people|Failed/.test(document.querySelector('#compare-result').textContent), same);
    const diff = await page.textContent('#compare-result');
    ok(/^Different people/.test(diff), `Obama and Biden: ${diff}`);
    await shot('06-compare');
  });

  const hasWatch = spawnSync(facet, ['watch', '--help'], { encoding: 'utf8' }).stderr.includes('usage: facet watch');
  await step('live events from facet watch', async () => {
    await page.click('nav >> text=Live');
    await page.waitForFunction(() => /Connected/.test(document.querySelector('#live-status').textContent));
    ok(true, 'the live page follows the event stream');
    if (!hasWatch) {
      n++;
      console.log(`ok ${n} - # SKIP this build has no facet watch`);
      return;
    }
    // facet watch on a real video, recognising through this facetd and posting its events
    // (chips included) back to it; the performer is not enrolled, so he is a stranger
    const watch = spawnSync(facet, ['watch', path.join(data, 'video/hamilton_clip.mp4'), '--server', base,
      '--key', KEY, '--collection', 'people', '--webhook', `${base}/v1/events`, '--webhook-key', KEY,
      '--chips', '--json', '--metrics', '1'],
      { encoding: 'utf8', timeout: 240000 * SCALE });
    ok(watch.status === 0, 'facet watch ran on hamilton_clip.mp4 and posted its events', watch.stderr);
    await page.waitForSelector('#events li[data-event="track_started"]', { timeout: 20000 * SCALE });
    ok(true, 'watch events arrive on the page as they happen');
    await page.waitForSelector('#strangers li[data-stranger] img', { timeout: 20000 * SCALE });
    ok(true, 'a stranger waits for review with its chip');
    await page.waitForFunction(() => !/No feed/.test(document.querySelector('#feeds-table').textContent), null, { timeout: 20000 * SCALE });
    const feeds = await page.textContent('#feeds-table tbody');
    ok(/hamilton/.test(feeds), `the feed reports its figures: ${feeds.replace(/\s+/g, ' ')}`);
    await shot('07-live');
    // name the first stranger: it is enrolled into the collection
    const before = (await (await fetch(`${base}/v1/collections/people`, { headers: { Authorization: `Bearer ${KEY}` } })).json()).faceprints;
    await page.selectOption('#review-collection', 'people');
    const first = page.locator('#strangers li[data-stranger]').first();
    const id = await first.getAttribute('data-stranger');
    await first.locator('input').fill('lin_manuel_miranda');
    await first.locator('button[type=submit]').click();
    await page.waitForSelector(`#strangers li[data-stranger="${id}"]`, { state: 'detached' });
    const after = (await (await fetch(`${base}/v1/collections/people`, { headers: { Authorization: `Bearer ${KEY}` } })).json()).faceprints;
    ok(after === before + 1, `naming a stranger enrols the chip (${before} -> ${after} faceprints)`);
  });

  await step('server at a glance', async () => {
    await page.click('nav >> text=Server');
    await page.waitForFunction(() => document.querySelectorAll('#routes-table tbody tr').length > 3, null, { timeout: 10000 * SCALE });
    const stats = await page.textContent('#server-stats');
    ok(/Requests\s*\d+/.test(stats.replace(/Requests\/s[^A-Z]*/, '')), `the server's figures are shown: ${stats.replace(/\s+/g, ' ')}`);
    const sizes = await page.$$eval('#sizes-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const people = sizes.find((r) => r[0] === 'people');
    ok(people && Number(people[1]) >= 9, `collection sizes are shown: ${JSON.stringify(sizes)}`);
    await shot('08-server');
  });

  await step('phone screen', async () => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
    phone.setDefaultTimeout(30000 * SCALE);
    const pp = await phone.newPage();
    await pp.goto(base + '/');
    await pp.evaluate((k) => sessionStorage.setItem('facet.key', k), KEY);
    await pp.goto(base + '/#/identify');
    await pp.reload();
    await pp.waitForSelector('#page-identify:not([hidden])');
    const over = await pp.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    ok(over <= 0, `readable on a phone: nothing wider than the screen (overflow ${over} px)`);
    await pp.screenshot({ path: path.join(shots, '09-phone.png'), fullPage: true });
    await phone.close();
  });

  await step('keyboard', async () => {
    await page.goto(base + '/#/collections');
    await page.reload();
    await page.waitForSelector('#page-collections:not([hidden])');
    const seen = [];
    for (let i = 0; i < 12; i++) {
      await page.keyboard.press('Tab');
      seen.push(await page.evaluate(() => document.activeElement.textContent.trim() || document.activeElement.id));
    }
    ok(['Enrol', 'Identify', 'Live'].every((t) => seen.includes(t)), `every page is reachable with Tab: ${seen.join(' | ')}`);
    await page.focus('nav >> text=Compare');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#page-compare:not([hidden])');
    ok(true, 'Enter on a focused link opens its page');
  });

  await step('server gone', async () => {
    server.kill('SIGTERM');
    for (let i = 0; i < 100 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
    ok(exited && exited.code === 0, `facetd stopped on SIGTERM with an open event stream (exit ${exited && exited.code})`);
    await page.click('nav >> text=Collections');
    await page.waitForSelector('#banner:not([hidden])');
    ok(/cannot be reached/.test(await page.textContent('#banner')), 'the page says clearly that the server is gone');
    await shot('10-server-gone');
  });
  ok(consoleErrors.length === 0, 'no script errors in the page', consoleErrors.join('\n'));
} catch (e) {
  ok(false, 'dashboard test', e.stack || e);
} finally {
  if (browser) await browser.close();
  if (!exited) server.kill('SIGKILL');
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
