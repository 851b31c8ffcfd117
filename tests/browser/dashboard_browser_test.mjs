// Real-browser tests of inlet's web dashboard: Debian's Chromium, headless,
// driven by playwright-core (from web/node_modules), against the real inlet
// binary started here on a free loopback port with a temporary data dir.
// Screenshots of each page go to $INLET_BROWSER_ARTIFACTS.
//
// Environment (set by tests/browser/CMakeLists.txt):
//   INLET_BINARY             the inlet executable
//   INLET_WEB_DIR            web/ (for node_modules/playwright-core)
//   INLET_BROWSER_ARTIFACTS  where screenshots and the inlet log go
//   CHROMIUM                 the browser (default /usr/bin/chromium)
//
// Tests that need the query API (POST /v1/query) skip with a message while
// this inlet answers 404 for it.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {createRequire} from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const INLET = process.env.INLET_BINARY;
const WEB = process.env.INLET_WEB_DIR;
const ARTIFACTS = process.env.INLET_BROWSER_ARTIFACTS || path.join(os.tmpdir(), 'inlet-browser-artifacts');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const ADMIN_KEY = 'browser-test-admin-key';
const QUERY_KEY = 'browser-test-query-key';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let tmp, port, base, inlet, context, chromium;
let queryWired = false;
const published = {accepted: 0, rejected: 0};
const outsideRequests = [];

const sha256 = (s) => createHash('sha256').update(s).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const fmt = (n) => new Intl.NumberFormat('en-US').format(n);

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

function config() {
  return `server:
  listen: 127.0.0.1:${port}
storage:
  data_dir: ${path.join(tmp, 'data')}
api_keys:
  admin:
    sha256: ${sha256(ADMIN_KEY)}
    scopes: [admin]
  reader:
    sha256: ${sha256(QUERY_KEY)}
    scopes: [query]
tables:
  raw.events:
    columns:
      - {name: event_id, type: string, required: true}
      - {name: user_id, type: string, required: true}
      - {name: ts, type: timestamp, required: true, format: rfc3339}
      - {name: lat, type: double, required: true, min: -90, max: 90}
      - {name: lon, type: double, required: true, min: -180, max: 180}
      - {name: age, type: int, min: 0, max: 120}
      - {name: gender, type: string}
topics:
  events:
    table: raw.events
subscriptions:
  raw-delivery:
    topic: events
  processing:
    topic: events
delivery_streams:
  raw-events:
    subscription: raw-delivery
    table: raw.events
    buffer_interval: 1s
    idle_flush: 1s
    time_field: ts
processors:
  presence:
    subscription: processing
    table: raw.events
    mapping:
      event_id: $.event_id
      user_id: $.user_id
      ts: $.ts
      lat: $.lat
      lon: $.lon
      age: {path: $.age, derive: age}
      gender: {path: $.gender, derive: gender}
    masking:
      key_file: ${path.join(tmp, 'pseudonym.key')}
      create_key: true
      rules:
        - {column: user_id, op: pseudonym}
    aggregate:
      poi_file: ${path.join(tmp, 'pois.csv')}
      window: 1m
      allowed_lateness: 1s
      idle_close: 2s
`;
}

async function http(method, p, {body, key = ADMIN_KEY, headers = {}} = {}) {
  const h = {...headers};
  if (key) h['Authorization'] = 'Bearer ' + key;
  if (body !== undefined && !h['Content-Type']) h['Content-Type'] = 'application/json';
  const res = await fetch(base + p, {method, headers: h, body});
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return {status: res.status, headers: res.headers, text, json};
}

// Publishes the test's events: two valid NDJSON batches and one with broken lines.
async function publish() {
  const t0 = Date.UTC(2024, 4, 1, 12, 0, 0);
  const lines = [];
  for (let i = 0; i < 240; i++) {
    lines.push(JSON.stringify({event_id: 'e' + i, user_id: 'u' + (i % 30), ts: new Date(t0 + i * 1000).toISOString(),
      lat: 40.75 + (i % 7) * 1e-4, lon: -73.99 + (i % 5) * 1e-4, age: 20 + (i % 40), gender: i % 2 ? 'F' : 'M'}));
  }
  const batches = [lines.slice(0, 120), lines.slice(120), [lines[0].replace('e0', 'x1'), '{"broken": ', 'not json at all', lines[1].replace('e1', 'x2')]];
  for (const b of batches) {
    const r = await http('POST', '/v1/topics/events/events', {body: b.join('\n') + '\n', headers: {'Content-Type': 'application/x-ndjson'}});
    assert.ok(r.status === 200, `publish answered ${r.status}: ${r.text}`);
    published.accepted += r.json.accepted;
    published.rejected += (r.json.rejected || []).length;
  }
  assert.equal(published.accepted, 242);
  assert.equal(published.rejected, 2);
}

before(async () => {
  assert.ok(INLET && fs.existsSync(INLET), `INLET_BINARY (${INLET}) does not exist: build the inlet target first`);
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/bootstrap (Debian package chromium)`);
  const require = createRequire(path.join(WEB, 'package.json'));
  try {
    ({chromium} = require('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core is not installed in ${WEB}/node_modules: run scripts/bootstrap (${e.message})`);
  }
  fs.mkdirSync(ARTIFACTS, {recursive: true});
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inlet-browser-'));
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  // Two points of interest: one covers every published location, one none.
  fs.writeFileSync(path.join(tmp, 'pois.csv'),
      'id,name,lat,lon,radius_m,category\nherald,Herald Square,40.7503,-73.9898,200,plaza\nfar,Far Away,40.60,-73.80,50,park\n');
  fs.writeFileSync(path.join(tmp, 'inlet.yaml'), config());
  const log = fs.openSync(path.join(ARTIFACTS, 'inlet.log'), 'w');
  inlet = spawn(INLET, ['run', path.join(tmp, 'inlet.yaml')], {stdio: ['ignore', log, log]});
  const deadline = Date.now() + 20000;
  for (;;) {
    assert.ok(inlet.exitCode === null, `inlet exited with ${inlet.exitCode}; see ${ARTIFACTS}/inlet.log`);
    try {
      if ((await fetch(base + '/healthz')).ok) break;
    } catch {
      // not listening yet
    }
    assert.ok(Date.now() < deadline, 'inlet did not become healthy in 20 s');
    await sleep(100);
  }
  await publish();
  const q = await http('POST', '/v1/query', {body: JSON.stringify({sql: 'SELECT 1 AS one', max_rows: 1})});
  queryWired = q.status !== 404;
  context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(tmp, 'chromium-profile-')), {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: {width: 1280, height: 900}, acceptDownloads: true,
  });
});

after(async () => {
  if (context) await context.close();
  if (inlet && inlet.exitCode === null) {
    inlet.kill('SIGTERM');
    await new Promise((r) => {
      const t = setTimeout(() => {
        inlet.kill('SIGKILL');
        r();
      }, 10000);
      inlet.on('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  if (tmp) fs.rmSync(tmp, {recursive: true, force: true});
});

// A page with console errors, page errors and requests outside inlet recorded.
// 404s of endpoints this inlet does not serve yet are expected while the
// query API is not wired.
async function openPage(hash, {key = ADMIN_KEY} = {}) {
  const page = await context.newPage();
  const errors = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = m.location()?.url || '';
    const unwired = !queryWired && /\/v1\/(query|catalog)/.test(where) && /404/.test(m.text());
    if (!unwired) errors.push(`${m.text()} (${where})`);
  });
  page.on('pageerror', (e) => errors.push('page error: ' + e.message));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base + '/') && !u.startsWith('data:') && !u.startsWith('blob:')) outsideRequests.push(u);
  });
  await page.goto(base + '/' + hash);
  if (key) {
    await page.locator('#key-dialog').waitFor({state: 'visible'});
    await page.fill('#api-key', key);
    await page.press('#api-key', 'Enter');
    await page.locator('#key-dialog').waitFor({state: 'hidden'});
  }
  return {page, errors};
}

async function screenshot(page, name) {
  await page.screenshot({path: path.join(ARTIFACTS, name + '.png'), fullPage: true});
}

// Narrow screen: nothing may overflow the viewport horizontally.
async function checkNarrow(page, name) {
  await page.setViewportSize({width: 390, height: 844});
  await sleep(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `${name}: the page is ${overflow}px wider than a 390px screen`);
  await screenshot(page, name + '-narrow');
  await page.setViewportSize({width: 1280, height: 900});
}

function skipWithoutQuery(t) {
  if (!queryWired) {
    t.skip('POST /v1/query answers 404 in this inlet (query API not wired yet)');
    return true;
  }
  return false;
}

test('the UI is served from the binary with content types and caching headers', async () => {
  const index = await fetch(base + '/');
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.match(index.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(index.headers.get('cache-control'), 'no-cache');
  const html = await index.text();
  assert.match(html, /\/ui\/js\/main\.js/);

  const js = await fetch(base + '/ui/vendor/echarts.min.js', {headers: {'Accept-Encoding': 'gzip'}});
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.match(js.headers.get('cache-control'), /max-age=\d+/);
  const body = await js.text();  // fetch decompresses
  assert.ok(body.length > 500000 && body.includes('echarts'), 'the ECharts bundle is embedded');
  const etag = js.headers.get('etag');
  assert.ok(etag, 'an ETag is sent');
  const again = await fetch(base + '/ui/vendor/echarts.min.js', {headers: {'If-None-Match': etag}});
  assert.equal(again.status, 304);

  assert.match((await fetch(base + '/ui/css/app.css')).headers.get('content-type'), /^text\/css/);
  assert.equal((await fetch(base + '/ui/js/nope.js')).status, 404);
});

test('pipeline page shows the numbers the test published', async () => {
  const {page, errors} = await openPage('#/pipeline');
  await page.locator('h1', {hasText: 'Pipeline'}).waitFor();
  const total = page.getByTestId('stat-events-total');
  await assert.doesNotReject(total.filter({hasText: new RegExp('^' + fmt(published.accepted) + '$')}).waitFor({timeout: 15000}),
      'events ingested tile shows ' + published.accepted);
  assert.equal(await page.getByTestId('stat-rejected-total').textContent(), fmt(published.rejected));
  const subs = page.getByTestId('subscriptions-table');
  await subs.waitFor();
  for (const s of ['raw-delivery', 'processing']) assert.ok((await subs.textContent()).includes(s), `subscription ${s} is listed`);
  // The delivery stream writes files within a few seconds (buffer_interval 1s).
  await page.getByTestId('stat-files-total').filter({hasText: /^[1-9][0-9,]*$/}).waitFor({timeout: 20000});
  await page.getByTestId('stat-events-rate').filter({hasText: /^[0-9.,]+$/}).waitFor({timeout: 10000});  // after two scrapes
  const rej = await page.getByTestId('rejections-table').textContent();
  assert.match(rej, /malformed|json|invalid/i, 'the rejection reason is shown: ' + rej);
  assert.ok(await page.locator('#chart-rate svg').count() > 0, 'the rate chart is drawn');
  await screenshot(page, 'pipeline');
  await checkNarrow(page, 'pipeline');
  assert.deepEqual(errors, []);
  await page.close();
});

test('errors page loads without console errors', async () => {
  const {page, errors} = await openPage('#/errors');
  await page.locator('h1', {hasText: 'Errors'}).waitFor();
  const t = page.getByTestId('ingest-rejections-table');
  await t.waitFor();
  const counts = await t.locator('tbody tr td:nth-child(3)').allTextContents();
  assert.equal(counts.reduce((a, c) => a + Number(c.replace(/,/g, '')), 0), published.rejected, 'ingest refusals are counted: ' + await t.textContent());
  await page.waitForFunction(() => !document.body.textContent.includes('Loading…'), null, {timeout: 30000});
  if (!queryWired) assert.ok(await page.getByText('The query API is not available in this inlet').count() > 0);
  await screenshot(page, 'errors');
  await checkNarrow(page, 'errors');
  assert.deepEqual(errors, []);
  await page.close();
});

test('keyboard: skip link, navigation by Tab and Enter, focus on the new page', async () => {
  const {page, errors} = await openPage('#/pipeline');
  await page.locator('h1', {hasText: 'Pipeline'}).waitFor();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip-link');
  let found = false;
  for (let i = 0; i < 10 && !found; i++) {
    await page.keyboard.press('Tab');
    found = await page.evaluate(() => document.activeElement.dataset.page === 'sql');
  }
  assert.ok(found, 'the SQL link is reachable with Tab');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#/sql');
  await page.waitForFunction(() => document.activeElement && document.activeElement.tagName === 'H1');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'SQL');
  assert.deepEqual(errors, []);
  await page.close();
});

test('SQL page runs a query and shows its rows', async (t) => {
  const {page, errors} = await openPage('#/sql');
  await page.locator('h1', {hasText: 'SQL'}).waitFor();
  await page.waitForFunction(() => !document.querySelector('#catalog')?.textContent.includes('Loading'), null, {timeout: 10000}).catch(() => {});
  await screenshot(page, 'sql');
  if (skipWithoutQuery(t)) {
    assert.deepEqual(errors, []);
    await page.close();
    return;
  }
  // The raw lake holds the events once the delivery stream has flushed.
  let n = 0;
  for (const deadline = Date.now() + 30000; Date.now() < deadline; await sleep(500)) {
    const r = await http('POST', '/v1/query', {body: JSON.stringify({sql: 'SELECT count(*) AS n FROM raw.events', max_rows: 1})});
    if (r.status === 200 && Number(r.json.rows[0][0]) === published.accepted) {
      n = published.accepted;
      break;
    }
  }
  assert.equal(n, published.accepted, 'raw.events holds every accepted event');
  await page.fill('#sql-editor', 'SELECT count(*) AS n FROM raw.events');
  await page.press('#sql-editor', 'Control+Enter');
  const table = page.getByTestId('sql-result-table');
  await table.locator('td', {hasText: fmt(published.accepted)}).waitFor({timeout: 15000});

  await page.fill('#sql-editor', 'SELECT event_id, age, gender FROM raw.events ORDER BY event_id');
  await page.getByTestId('sql-run').click();
  await page.getByTestId('sql-page').filter({hasText: `rows 1–50 of ${fmt(published.accepted)}`}).waitFor({timeout: 15000});
  assert.equal(await table.locator('tbody tr').count(), 50);
  await page.getByRole('button', {name: 'Next ›'}).click();
  await page.getByTestId('sql-page').filter({hasText: 'rows 51–100'}).waitFor();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('sql-csv').click()]);
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
  assert.equal(csv[0], 'event_id,age,gender');
  assert.equal(csv.length, published.accepted + 1);
  await page.getByTestId('sql-chart').click();
  await page.locator('#sql-chart svg').first().waitFor();
  await screenshot(page, 'sql-result');
  await checkNarrow(page, 'sql');
  assert.deepEqual(errors, []);
  await page.close();
});

test('Presence charts show the numbers of curated.poi_presence, and a filter changes them', async (t) => {
  const {page, errors} = await openPage('#/presence');
  await page.locator('h1', {hasText: 'Presence'}).waitFor();
  await page.waitForFunction(() => !document.body.textContent.includes('Loading…'), null, {timeout: 30000});
  await screenshot(page, 'presence');
  if (skipWithoutQuery(t)) {
    assert.deepEqual(errors, []);
    await page.close();
    return;
  }
  // The processor closes the windows 2 s after the last event (idle_close).
  let probe;
  for (let i = 0; i < 40; i++) {
    probe = await http('POST', '/v1/query', {body: JSON.stringify({sql: 'SELECT count(*) FROM curated.poi_presence', max_rows: 1})});
    if (probe.status === 200 && Number(probe.json.rows[0][0]) > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  if (probe.status !== 200 || Number(probe.json.rows[0][0]) === 0) {
    t.skip('curated.poi_presence has no rows here (no processor in this test configuration yet): ' + probe.text.slice(0, 200));
    await page.close();
    return;
  }
  // Expected: the POI with the most persons in the latest window, computed here.
  const expected = await http('POST', '/v1/query', {body: JSON.stringify({max_rows: 1, sql:
    `SELECT poi_id, sum(persons) AS p FROM curated.poi_presence WHERE window_start = (SELECT max(window_start) FROM curated.poi_presence)
     GROUP BY poi_id ORDER BY p DESC, poi_id LIMIT 1`})});
  const [poi, persons] = expected.json.rows[0];
  const firstRow = page.getByTestId('top-pois-table').locator('tbody tr').first();
  await firstRow.waitFor();
  const cells = await firstRow.locator('td').allTextContents();
  assert.equal(cells[0], String(poi));
  assert.equal(cells[2], fmt(Number(persons)));
  // A gender filter changes the band chart's numbers to that gender only.
  const genders = await page.getByTestId('filter-gender').locator('option').allTextContents();
  if (genders.length > 2) {
    await page.getByTestId('filter-gender').selectOption({index: 1});
    await page.waitForFunction(() => !document.body.textContent.includes('Loading…'));
    const cells = await page.getByTestId('presence-bands-table').locator('tbody tr td:nth-child(2)').allTextContents();
    assert.ok(cells.length > 0 && cells.every((c) => c === genders[1]), 'only the chosen gender remains: ' + cells);
  }
  await checkNarrow(page, 'presence');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a saved dashboard reopens by URL', async () => {
  const {page, errors} = await openPage('#/dashboards');
  await page.locator('h1', {hasText: 'Dashboards'}).waitFor();
  await page.getByTestId('new-dashboard-name').fill('daily-presence');
  await page.getByTestId('new-dashboard-title').fill('Daily presence');
  await page.getByRole('button', {name: 'Create'}).click();
  await page.waitForFunction(() => location.hash.startsWith('#/dashboards/daily-presence'));
  await page.getByTestId('add-visual').click();
  const editor = page.locator('.visual-editor').first();
  await editor.getByLabel('Title').fill('Events in the raw lake');
  await editor.getByLabel('SQL').fill('SELECT count(*) AS events FROM raw.events');
  await editor.getByLabel('Chart').selectOption('number');
  await page.getByTestId('save-dashboard').click();
  await page.getByText('Saved.').waitFor();
  const stored = await http('GET', '/v1/dashboards/daily-presence', {key: QUERY_KEY});
  assert.equal(stored.status, 200);
  assert.equal(stored.json.title, 'Daily presence');
  assert.equal(stored.json.visuals[0].sql, 'SELECT count(*) AS events FROM raw.events');
  assert.equal(stored.json.visuals[0].chart, 'number');
  await page.close();

  // A new tab (no key in its sessionStorage) opened on the dashboard's URL.
  const again = await openPage('#/dashboards/daily-presence', {key: QUERY_KEY});
  await again.page.getByTestId('dashboard-title').filter({hasText: 'Daily presence'}).waitFor();
  assert.equal(await again.page.locator('.visual-title').first().textContent(), 'Events in the raw lake');
  if (queryWired) {
    await again.page.getByTestId('visual-number').filter({hasText: /^[0-9,]+$/}).waitFor({timeout: 15000});
  }
  await screenshot(again.page, 'dashboard');
  await checkNarrow(again.page, 'dashboard');
  assert.deepEqual(errors, []);
  assert.deepEqual(again.errors, []);
  await again.page.close();
});

test('no page made a request outside inlet', () => {
  assert.deepEqual(outsideRequests, []);
});
