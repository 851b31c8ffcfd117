// SQL: the catalog browser (GET /v1/catalog/...), an editor, the result as a
// paginated table, a one-click chart of it, CSV download, and "add to a
// dashboard". Query text is kept for the tab (sessionStorage).
import {api, query, firstArray, ApiError} from '../api.js';
import {resultChart, guessAxes, CHART_TYPES} from '../charts.js';
import {queryErrorNotice} from '../query_gate.js';
import {h, clear, fmtNumber, fmtBytes, field, notice, resultTable, toCsv, download} from '../util.js';
import {saveVisual} from './dashboards.js';

export const title = 'SQL';
export const needsKey = true;
const SQL_STORAGE = 'inlet.sql';

// Names from catalog answers whose exact shape may vary.
const nameOf = (x) => (typeof x === 'string' ? x : x?.name ?? x?.database ?? x?.table ?? JSON.stringify(x));
function tableRef(t) {
  if (typeof t === 'string') return t;
  const db = t.database ?? t.db ?? t.schema;
  const n = t.name ?? t.table;
  return n && db && !String(n).includes('.') ? `${db}.${n}` : String(t.full_name ?? t.qualified_name ?? n);
}

// A generic table from an array of objects (or scalars).
function objectsTable(items, caption, testid) {
  if (!items.length) return notice('info', 'None.');
  if (items.every((x) => typeof x !== 'object' || x === null)) {
    return resultTable([{name: caption}], items.map((x) => [x]), {testid});
  }
  const keys = [...new Set(items.flatMap((x) => Object.keys(x)))];
  return resultTable(keys.map((k) => ({name: k})), items.map((x) => keys.map((k) => x[k] ?? null)), {caption, testid});
}

export function render(main, {query: q}) {
  let stopped = false;
  let result = null, page = 0;
  const editor = h('textarea', {id: 'sql-editor', class: 'editor', rows: 8, spellcheck: 'false', 'aria-describedby': 'sql-hint',
    value: q.sql || sessionStorage.getItem(SQL_STORAGE) || 'SELECT * FROM raw.events LIMIT 100'});
  const maxRows = h('input', {type: 'number', min: 1, max: 1000000, value: 10000, class: 'narrow'});
  const run = h('button', {type: 'submit', class: 'primary', 'data-testid': 'sql-run'}, 'Run');
  const pageSize = h('select', {}, [25, 50, 100, 500].map((n) => h('option', {value: n, selected: n === 50}, n)));
  const statsEl = h('p', {class: 'muted', 'data-testid': 'sql-stats', 'aria-live': 'polite'});
  const msg = h('div', {'aria-live': 'polite'});
  const resultEl = h('div', {id: 'sql-result'});
  const pager = h('div', {class: 'pager', hidden: true});
  const chartType = h('select', {'data-testid': 'chart-type'}, CHART_TYPES.filter((t) => t !== 'table').map((t) => h('option', {value: t}, t)));
  const xSel = h('select', {}), ySel = h('select', {}), groupSel = h('select', {});
  const chartBox = h('div', {class: 'chart-box', hidden: true});
  const chartEl = h('div', {id: 'sql-chart'});
  const catalogEl = h('div', {id: 'catalog'});
  const detailEl = h('div', {id: 'catalog-detail'});
  const csvBtn = h('button', {type: 'button', disabled: true, 'data-testid': 'sql-csv'}, 'Download CSV');
  const chartBtn = h('button', {type: 'button', disabled: true, 'data-testid': 'sql-chart'}, 'Chart');
  const addBtn = h('button', {type: 'button', disabled: true}, 'Add to dashboard…');
  const addBox = h('div', {class: 'add-box', hidden: true});
  const form = h('form', {class: 'sql-form', 'aria-label': 'SQL editor'},
      h('label', {for: 'sql-editor'}, 'Query'), editor,
      h('small', {id: 'sql-hint'}, 'Ctrl+Enter runs the query. Tables by catalog name: raw.events, curated.poi_presence, errors.rejected.'),
      h('div', {class: 'toolbar'}, run, field('Max rows', maxRows), csvBtn, chartBtn, addBtn));

  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'SQL')),
      h('div', {class: 'sql-layout'},
          h('aside', {class: 'card catalog', 'aria-label': 'Catalog'}, h('h2', {}, 'Catalog'), catalogEl, detailEl),
          h('div', {class: 'sql-main'}, h('section', {class: 'card'}, form, addBox, msg, statsEl),
              h('section', {class: 'card', 'aria-label': 'Result', id: 'sql-result-card', hidden: true}, resultEl, pager),
              h('section', {class: 'card', 'aria-label': 'Chart of the result', id: 'sql-chart-card', hidden: true}, chartBox))));
  chartBox.append(h('div', {class: 'toolbar'}, field('Chart', chartType), field('X', xSel), field('Y', ySel), field('Series by', groupSel)), chartEl);

  editor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      form.requestSubmit();
    }
  });

  function renderPage() {
    const size = Number(pageSize.value);
    const pages = Math.max(1, Math.ceil(result.rows.length / size));
    page = Math.min(Math.max(0, page), pages - 1);
    const rows = result.rows.slice(page * size, (page + 1) * size);
    clear(resultEl).append(result.rows.length ? resultTable(result.columns, rows, {testid: 'sql-result-table'}) : notice('info', 'The query returned no rows.'));
    const prev = h('button', {type: 'button', disabled: page === 0, onclick: () => { page--; renderPage(); }}, '‹ Previous');
    const next = h('button', {type: 'button', disabled: page >= pages - 1, onclick: () => { page++; renderPage(); }}, 'Next ›');
    const from = result.rows.length ? page * size + 1 : 0;
    clear(pager).append(prev, h('span', {'data-testid': 'sql-page'}, `rows ${fmtNumber(from)}–${fmtNumber(page * size + rows.length)} of ${fmtNumber(result.rows.length)}`), next, field('Per page', pageSize));
    pager.hidden = result.rows.length === 0;
  }
  pageSize.addEventListener('change', () => { page = 0; renderPage(); });

  function drawChart() {
    const spec = {chart: chartType.value, x: xSel.value, y: ySel.value ? [ySel.value] : [], group: groupSel.value || undefined};
    resultChart(chartEl, result, spec);
  }
  function openChart() {
    const g = guessAxes(result);
    const opts = (sel, names, blank) => sel.replaceChildren(...(blank ? [h('option', {value: ''}, '—')] : []), ...names.map((n) => h('option', {value: n}, n)));
    const names = result.columns.map((c) => c.name);
    opts(xSel, names);
    opts(ySel, names);
    opts(groupSel, names, true);
    xSel.value = g.x;
    ySel.value = g.y[0] ?? names[0];
    groupSel.value = g.group ?? '';
    chartType.value = g.kind[g.x] === 'time' ? 'line' : 'bar';
    chartBox.hidden = false;
    main.querySelector('#sql-chart-card').hidden = false;
    drawChart();
    chartBox.scrollIntoView({block: 'nearest'});
  }
  for (const s of [chartType, xSel, ySel, groupSel]) s.addEventListener('change', drawChart);
  chartBtn.addEventListener('click', openChart);
  csvBtn.addEventListener('click', () => download('inlet-query.csv', toCsv(result.columns, result.rows)));

  addBtn.addEventListener('click', () => {
    addBox.hidden = false;
    const nameIn = h('input', {type: 'text', required: true, pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]{0,63}', list: 'dashboard-names'});
    const titleIn = h('input', {type: 'text', value: 'Query result'});
    const list = h('datalist', {id: 'dashboard-names'});
    const out = h('div', {'aria-live': 'polite'});
    api('/v1/dashboards').then((d) => list.replaceChildren(...firstArray(d, ['dashboards']).map((x) => h('option', {value: nameOf(x)})))).catch(() => {});
    const f = h('form', {class: 'filters'}, field('Dashboard (new or existing)', nameIn), list, field('Visual title', titleIn),
        h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Add'), h('button', {type: 'button', onclick: () => { addBox.hidden = true; }}, 'Cancel')), out);
    f.addEventListener('submit', async (e) => {
      e.preventDefault();
      const visual = {title: titleIn.value, sql: editor.value, chart: chartBox.hidden ? 'table' : chartType.value};
      if (!chartBox.hidden) Object.assign(visual, {x: xSel.value, y: ySel.value ? [ySel.value] : [], group: groupSel.value || undefined});
      try {
        await saveVisual(nameIn.value, visual);
        clear(out).append(notice('info', 'Added. ', h('a', {href: '#/dashboards/' + encodeURIComponent(nameIn.value)}, 'Open the dashboard')));
      } catch (err) {
        clear(out).append(notice('error', 'Could not save: ' + err.message));
      }
    });
    clear(addBox).append(f);
    nameIn.focus();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const sql = editor.value.trim();
    if (!sql) return;
    sessionStorage.setItem(SQL_STORAGE, editor.value);
    run.disabled = true;
    clear(msg).append(h('p', {class: 'muted'}, 'Running…'));
    try {
      const r = await query(sql, {maxRows: Number(maxRows.value) || 10000});
      if (stopped) return;
      result = r;
      page = 0;
      clear(msg);
      if (r.truncated) msg.append(notice('warn', `Only the first ${fmtNumber(r.rows.length)} rows are shown (max rows).`));
      statsEl.textContent = `${fmtNumber(r.row_count ?? r.rows.length)} rows · ${fmtBytes(r.bytes_scanned)} scanned · ${fmtNumber(r.elapsed_ms)} ms`;
      main.querySelector('#sql-result-card').hidden = false;
      renderPage();
      csvBtn.disabled = chartBtn.disabled = addBtn.disabled = false;
      if (!chartBox.hidden) openChart();
    } catch (err) {
      if (stopped) return;
      clear(msg).append(queryErrorNotice(err));
    } finally {
      run.disabled = false;
    }
  });

  async function showTable(ref) {
    clear(detailEl).append(h('p', {class: 'muted'}, 'Loading ' + ref + '…'));
    try {
      const d = await api('/v1/catalog/tables/' + encodeURIComponent(ref).replace('%2E', '.'));
      if (stopped) return;
      const t = d && d.table && typeof d.table === 'object' ? d.table : d;
      const cols = firstArray(t.columns ?? t.schema ?? [], ['columns']);
      const parts = t.partitions ?? t.partition_values ?? [];
      const keys = t.partition_keys ?? t.partitionKeys ?? [];
      const scalars = Object.entries(t).filter(([, v]) => v === null || typeof v !== 'object');
      clear(detailEl).append(h('h3', {}, ref),
          scalars.length ? h('dl', {class: 'props'}, scalars.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])) : null,
          h('h4', {}, 'Columns'), objectsTable(cols, 'column', 'catalog-columns'),
          keys.length ? [h('h4', {}, 'Partition keys'), objectsTable(firstArray(keys), 'key')] : null,
          h('h4', {}, 'Partitions'), objectsTable(firstArray(parts, ['partitions']).slice(0, 200), 'partition', 'catalog-partitions'),
          h('button', {type: 'button', onclick: () => { editor.value = `SELECT * FROM ${ref} LIMIT 100`; editor.focus(); }}, 'Query this table'));
    } catch (err) {
      if (!stopped) clear(detailEl).append(notice('error', 'Cannot read ' + ref + ': ' + err.message));
    }
  }

  (async () => {
    try {
      const [dbs, tables] = await Promise.all([api('/v1/catalog/databases'), api('/v1/catalog/tables')]);
      if (stopped) return;
      const tableList = firstArray(tables, ['tables']).map(tableRef).sort();
      const dbNames = firstArray(dbs, ['databases']).map(nameOf);
      for (const t of tableList) {
        const db = t.split('.')[0];
        if (!dbNames.includes(db)) dbNames.push(db);
      }
      clear(catalogEl).append(h('ul', {class: 'tree', 'data-testid': 'catalog-tree'}, dbNames.map((db) => h('li', {},
          h('span', {class: 'db'}, db),
          h('ul', {}, tableList.filter((t) => t.split('.')[0] === db).map((t) => h('li', {},
              h('button', {type: 'button', class: 'link', onclick: () => showTable(t)}, t.split('.').slice(1).join('.') || t))))))));
    } catch (err) {
      if (stopped) return;
      clear(catalogEl).append(err instanceof ApiError && err.missingEndpoint ?
        notice('warn', 'The catalog API is not available in this inlet yet.') : notice('error', 'Cannot read the catalog: ' + err.message));
    }
  })();
  return () => {
    stopped = true;
  };
}
