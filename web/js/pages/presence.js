// Presence: people near each point of interest, from curated.poi_presence
// through POST /v1/query. Filters (POI, gender, age band, time range) live in
// the URL (#/presence?poi=a,b&gender=F&age=25-34&range=24h), so a view can be
// shared; the time range is relative to the newest window in the table.
import {query, records} from '../api.js';
import {timeLines, bars, poiMap} from '../charts.js';
import {queryErrorNotice} from '../query_gate.js';
import {h, clear, fmtNumber, fmtTime, notice, field, resultTable, sqlString, sqlTimestamp} from '../util.js';

export const title = 'Presence';
export const needsKey = true;
const TABLE = 'curated.poi_presence';
const MAX_LINES = 8;
const RANGES = [['all', 'All time'], ['1h', 'Last hour'], ['6h', 'Last 6 hours'], ['24h', 'Last 24 hours'], ['7d', 'Last 7 days'], ['custom', 'Custom…']];
const RANGE_MS = {'1h': 3600e3, '6h': 6 * 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3};

// The WHERE clause for the filters; `bounds` = {first_ms, last_ms} of the table.
export function presenceWhere(f, bounds) {
  const c = [];
  if (f.poi && f.poi.length) c.push('poi_id IN (' + f.poi.map(sqlString).join(', ') + ')');
  if (f.gender) c.push('gender = ' + sqlString(f.gender));
  if (f.age) c.push('age_band = ' + sqlString(f.age));
  let from = null, to = null;
  if (RANGE_MS[f.range] && bounds && Number.isFinite(bounds.last_ms)) {
    from = bounds.last_ms - RANGE_MS[f.range];
  } else if (f.range === 'custom') {
    if (f.from) from = Date.parse(f.from + 'Z');
    if (f.to) to = Date.parse(f.to + 'Z');
  }
  if (Number.isFinite(from)) c.push('window_start >= ' + sqlTimestamp(from));
  if (Number.isFinite(to)) c.push('window_start < ' + sqlTimestamp(to));
  return c.length ? 'WHERE ' + c.join(' AND ') : '';
}

function filtersFromQuery(q) {
  return {poi: q.poi ? q.poi.split(',').filter(Boolean) : [], gender: q.gender || '', age: q.age || '',
    range: q.range || 'all', from: q.from || '', to: q.to || ''};
}

function toQueryString(f) {
  const p = new URLSearchParams();
  if (f.poi.length) p.set('poi', f.poi.join(','));
  for (const k of ['gender', 'age']) if (f[k]) p.set(k, f[k]);
  if (f.range !== 'all') p.set('range', f.range);
  if (f.range === 'custom') {
    if (f.from) p.set('from', f.from);
    if (f.to) p.set('to', f.to);
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

function dataDetails(summary, columns, rows, testid) {
  return h('details', {class: 'data-details'}, h('summary', {}, summary), resultTable(columns, rows, {testid}));
}

export function render(main, {query: q}) {
  let stopped = false;
  let f = filtersFromQuery(q);
  let bounds = null;
  const poiSel = h('select', {multiple: true, size: 5, 'data-testid': 'filter-poi'});
  const genderSel = h('select', {'data-testid': 'filter-gender'}, h('option', {value: ''}, 'All'));
  const ageSel = h('select', {'data-testid': 'filter-age'}, h('option', {value: ''}, 'All'));
  const rangeSel = h('select', {'data-testid': 'filter-range'}, RANGES.map(([v, t]) => h('option', {value: v}, t)));
  const fromIn = h('input', {type: 'datetime-local', step: 60});
  const toIn = h('input', {type: 'datetime-local', step: 60});
  const custom = h('div', {class: 'custom-range', hidden: true}, field('From (UTC)', fromIn), field('To (UTC)', toIn));
  const apply = h('button', {type: 'submit', class: 'primary'}, 'Apply');
  const reset = h('button', {type: 'button'}, 'Reset');
  const form = h('form', {class: 'filters', 'aria-label': 'Presence filters'},
      field('Points of interest', poiSel, 'Ctrl/⌘ to select several; none = all'), field('Gender', genderSel), field('Age band', ageSel),
      field('Time range', rangeSel), custom, h('div', {class: 'actions'}, apply, reset));
  const msg = h('div', {'aria-live': 'polite'});
  const summary = h('p', {class: 'muted', 'data-testid': 'presence-summary'});
  const lineEl = h('div', {class: 'chart', id: 'presence-lines'});
  const barEl = h('div', {class: 'chart', id: 'presence-bands'});
  const mapEl = h('div', {class: 'chart chart-map', id: 'presence-map'});
  const lineData = h('div'), barData = h('div'), topEl = h('div');
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Presence'), summary), form, msg,
      h('section', {class: 'card'}, h('h2', {}, 'People near each POI over time'), lineEl, lineData),
      h('div', {class: 'grid2'},
          h('section', {class: 'card'}, h('h2', {}, 'Age band by gender'), barEl, barData),
          h('section', {class: 'card'}, h('h2', {}, 'Map: current presence'), mapEl)),
      h('section', {class: 'card'}, h('h2', {}, 'Top POIs'), topEl));

  function syncForm() {
    for (const o of poiSel.options) o.selected = f.poi.includes(o.value);
    genderSel.value = f.gender;
    ageSel.value = f.age;
    rangeSel.value = f.range;
    fromIn.value = f.from;
    toIn.value = f.to;
    custom.hidden = f.range !== 'custom';
  }
  function readForm() {
    return {poi: [...poiSel.selectedOptions].map((o) => o.value), gender: genderSel.value, age: ageSel.value,
      range: rangeSel.value, from: fromIn.value, to: toIn.value};
  }
  rangeSel.addEventListener('change', () => {
    custom.hidden = rangeSel.value !== 'custom';
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    f = readForm();
    // Keep the URL in step without re-rendering the page.
    history.replaceState(null, '', '#/presence' + toQueryString(f));
    refresh();
  });
  for (const el of [genderSel, ageSel, poiSel]) el.addEventListener('change', () => form.requestSubmit());
  rangeSel.addEventListener('change', () => {
    if (rangeSel.value !== 'custom') form.requestSubmit();
  });
  reset.addEventListener('click', () => {
    f = filtersFromQuery({});
    syncForm();
    form.requestSubmit();
  });

  async function loadFacets() {
    const [pois, genders, ages, b] = await Promise.all([
      query(`SELECT poi_id, any_value(poi_name) AS poi_name FROM ${TABLE} GROUP BY poi_id ORDER BY 2, 1`),
      query(`SELECT DISTINCT gender FROM ${TABLE} ORDER BY 1`),
      query(`SELECT DISTINCT age_band FROM ${TABLE} ORDER BY 1`),
      query(`SELECT epoch_ms(min(window_start)) AS first_ms, epoch_ms(max(window_end)) AS last_ms, count(*) AS n FROM ${TABLE}`),
    ]);
    poiSel.replaceChildren(...pois.rows.map(([id, name]) => h('option', {value: id}, name ? `${name} (${id})` : id)));
    genderSel.append(...genders.rows.map(([g]) => h('option', {value: g ?? ''}, g ?? 'unknown')));
    ageSel.append(...ages.rows.map(([a]) => h('option', {value: a ?? ''}, a ?? 'unknown')));
    bounds = records(b)[0] || null;
    syncForm();
  }

  async function refresh() {
    clear(msg).append(h('p', {class: 'muted'}, 'Loading…'));
    try {
      const where = presenceWhere(f, bounds);
      const top = await query(`WITH f AS (SELECT * FROM ${TABLE} ${where}),
  w AS (SELECT poi_id, window_start, sum(persons) AS p, sum(events) AS e FROM f GROUP BY poi_id, window_start),
  info AS (SELECT poi_id, any_value(poi_name) AS poi_name, any_value(lat) AS lat, any_value(lon) AS lon FROM f GROUP BY poi_id),
  latest AS (SELECT max(window_start) AS t FROM f)
SELECT w.poi_id, any_value(info.poi_name) AS poi_name, any_value(info.lat) AS lat, any_value(info.lon) AS lon,
  coalesce(sum(w.p) FILTER (WHERE w.window_start = (SELECT t FROM latest)), 0) AS current_persons,
  max(w.p) AS peak_persons, sum(w.e) AS events
FROM w JOIN info USING (poi_id) GROUP BY w.poi_id ORDER BY current_persons DESC, peak_persons DESC, w.poi_id LIMIT 500`, {maxRows: 500});
      if (stopped) return;
      const topRows = records(top);
      const lineIds = f.poi.length ? f.poi : [...topRows].sort((a, b) => Number(b.peak_persons) - Number(a.peak_persons)).slice(0, MAX_LINES).map((r) => r.poi_id);
      const lineWhere = lineIds.length ? (where ? where + ' AND ' : 'WHERE ') + 'poi_id IN (' + lineIds.map(sqlString).join(', ') + ')' : where;
      const [series, bands, latest] = await Promise.all([
        query(`SELECT epoch_ms(window_start) AS t, poi_id, any_value(poi_name) AS poi_name, sum(persons) AS persons
FROM ${TABLE} ${lineWhere} GROUP BY window_start, poi_id ORDER BY window_start, poi_id`, {maxRows: 100000}),
        query(`SELECT age_band, gender, sum(persons) AS persons FROM ${TABLE} ${where} GROUP BY age_band, gender ORDER BY age_band, gender`),
        query(`SELECT epoch_ms(max(window_start)) AS t, epoch_ms(max(window_end)) AS t_end FROM ${TABLE} ${where}`),
      ]);
      if (stopped) return;
      clear(msg);
      const latestRow = records(latest)[0] || {};
      summary.textContent = topRows.length ?
        `${fmtNumber(topRows.length)} POIs with presence; latest window ${fmtTime(latestRow.t)} – ${fmtTime(latestRow.t_end)}` :
        'No presence for this selection.';

      // Lines: one per POI.
      const byPoi = new Map();
      for (const r of records(series)) {
        const k = r.poi_name || r.poi_id;
        if (!byPoi.has(k)) byPoi.set(k, []);
        byPoi.get(k).push([Number(r.t), Number(r.persons)]);
      }
      timeLines(lineEl, [...byPoi].map(([name, points]) => ({name, points})), {label: 'Persons near each POI per window', yName: 'persons'});
      clear(lineData).append(dataDetails('Data: persons per window and POI', series.columns, series.rows.slice(0, 1000), 'presence-series-table'));

      // Stacked bars: age band by gender.
      const br = records(bands);
      const bandsList = [...new Set(br.map((r) => r.age_band ?? 'unknown'))];
      const genders = [...new Set(br.map((r) => r.gender ?? 'unknown'))];
      bars(barEl, bandsList, genders.map((g) => ({name: g,
        values: bandsList.map((b) => br.filter((r) => (r.age_band ?? 'unknown') === b && (r.gender ?? 'unknown') === g).reduce((a, r) => a + Number(r.persons), 0))})),
      {label: 'Persons by age band, stacked by gender (summed over windows and POIs)', yName: 'persons × windows'});
      clear(barData).append(dataDetails('Data: persons by age band and gender', bands.columns, bands.rows, 'presence-bands-table'));

      // Map and table.
      poiMap(mapEl, topRows.filter((r) => Number.isFinite(r.lat) && Number.isFinite(r.lon)).map((r) => ({name: r.poi_name || r.poi_id, lat: r.lat, lon: r.lon, value: Number(r.current_persons)})),
          {label: 'Map of POIs, circles sized by presence in the latest window', valueName: 'current persons'});
      const shown = top.columns.filter((c) => c.name !== 'lat' && c.name !== 'lon');
      const idx = shown.map((c) => top.columns.indexOf(c));
      clear(topEl).append(resultTable(shown, top.rows.slice(0, 50).map((r) => idx.map((i) => r[i])),
          {caption: 'POIs by persons in the latest window (peak: the most in one window)', testid: 'top-pois-table'}));
    } catch (e) {
      if (stopped) return;
      clear(msg).append(queryErrorNotice(e, 'Reading ' + TABLE));
    }
  }

  (async () => {
    try {
      await loadFacets();
    } catch (e) {
      if (!stopped) clear(msg).append(queryErrorNotice(e, 'Reading ' + TABLE));
      return;
    }
    if (!stopped) refresh();
  })();
  return () => {
    stopped = true;
  };
}
