// Errors: what was refused and why. Refusals at ingest come from /metrics
// (they never reach the lake); events rejected by validation are read from
// errors.rejected through POST /v1/query: counts by category over time and
// recent samples with their reason and field path.
import {api, query, records} from '../api.js';
import {parseMetrics, MetricSet} from '../metrics.js';
import {timeLines} from '../charts.js';
import {queryErrorNotice} from '../query_gate.js';
import {h, clear, fmtTime, field, notice, resultTable, sqlString} from '../util.js';

export const title = 'Errors';
export const needsKey = true;
const TABLE = 'errors.rejected';

export function render(main, {query: q}) {
  let stopped = false;
  const catSel = h('select', {'data-testid': 'filter-category'}, h('option', {value: ''}, 'All categories'));
  const limitSel = h('select', {}, [20, 50, 200].map((n) => h('option', {value: n}, n + ' samples')));
  const form = h('form', {class: 'filters', 'aria-label': 'Error filters'}, field('Category', catSel), field('Samples', limitSel),
      h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Apply')));
  const ingestEl = h('div'), msg = h('div', {'aria-live': 'polite'}), chartEl = h('div', {class: 'chart'}), samplesEl = h('div');
  const summary = h('p', {class: 'muted', 'data-testid': 'errors-summary'});
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Errors'), summary),
      h('section', {class: 'card'}, h('h2', {}, 'Refused at ingest'), h('p', {class: 'muted'}, 'Requests or events inlet did not accept (not stored), by reason, since start.'), ingestEl),
      h('section', {class: 'card'}, h('h2', {}, 'Rejected by validation, by category over time'), form, msg, chartEl),
      h('section', {class: 'card'}, h('h2', {}, 'Samples'), samplesEl));
  if (q.category) catSel.append(h('option', {value: q.category}, q.category));
  catSel.value = q.category || '';

  api('/metrics', {auth: false}).then((text) => {
    if (stopped) return;
    const m = new MetricSet(parseMetrics(String(text)));
    const rows = m.select('inlet_ingest_rejected_total').filter((s) => s.value > 0).map((s) => [s.labels.reason || '?', s.labels.topic || '', s.value]);
    clear(ingestEl).append(rows.length ?
      resultTable([{name: 'reason'}, {name: 'topic'}, {name: 'count'}], rows, {testid: 'ingest-rejections-table'}) :
      notice('info', 'Nothing refused at ingest since inlet started.'));
  }).catch((e) => !stopped && clear(ingestEl).append(notice('error', 'Cannot read /metrics: ' + e.message)));

  async function load() {
    clear(msg).append(h('p', {class: 'muted'}, 'Loading…'));
    try {
      const cat = catSel.value;
      const where = cat ? `WHERE category = ${sqlString(cat)}` : '';
      const span = records(await query(`SELECT epoch_ms(min(arrival_time)) AS first_ms, epoch_ms(max(arrival_time)) AS last_ms, count(*) AS n FROM ${TABLE} ${where}`))[0] || {};
      const first = Number(span.first_ms), last = Number(span.last_ms), n = Number(span.n || 0);
      const range = last - first;
      const unit = !(range > 2 * 3600e3) ? 'minute' : range <= 3 * 86400e3 ? 'hour' : 'day';
      const [cats, over, samples] = await Promise.all([
        query(`SELECT category, count(*) AS n FROM ${TABLE} GROUP BY category ORDER BY n DESC`),
        query(`SELECT epoch_ms(date_trunc('${unit}', arrival_time)) AS t, category, count(*) AS n FROM ${TABLE} ${where} GROUP BY 1, 2 ORDER BY 1, 2`, {maxRows: 100000}),
        query(`SELECT arrival_time, category, path, message, left(CAST(payload AS VARCHAR), 300) AS payload, seq FROM ${TABLE} ${where} ORDER BY arrival_time DESC, seq DESC LIMIT ${Number(limitSel.value)}`),
      ]);
      if (stopped) return;
      clear(msg);
      const keep = catSel.value;
      catSel.replaceChildren(h('option', {value: ''}, 'All categories'), ...cats.rows.map(([c, k]) => h('option', {value: c}, `${c} (${k})`)));
      catSel.value = keep;
      summary.textContent = n ? `${n} rejected events${cat ? ' in ' + cat : ''}, ${fmtTime(first)} – ${fmtTime(last)}, per ${unit}` : 'No rejected events.';
      const byCat = new Map();
      for (const r of records(over)) {
        if (!byCat.has(r.category)) byCat.set(r.category, []);
        byCat.get(r.category).push([Number(r.t), Number(r.n)]);
      }
      timeLines(chartEl, [...byCat].map(([name, points]) => ({name, points})), {label: `Rejected events per ${unit} by category`, yName: 'events', stack: true, area: true});
      clear(samplesEl).append(samples.rows.length ? resultTable(samples.columns, samples.rows, {testid: 'error-samples-table'}) : notice('info', 'No samples.'));
    } catch (e) {
      if (stopped) return;
      clear(chartEl);
      clear(msg).append(queryErrorNotice(e, 'Reading ' + TABLE));
    }
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    history.replaceState(null, '', '#/errors' + (catSel.value ? '?category=' + encodeURIComponent(catSel.value) : ''));
    load();
  });
  catSel.addEventListener('change', () => form.requestSubmit());
  load();
  return () => {
    stopped = true;
  };
}
