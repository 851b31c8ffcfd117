// Dashboards: named sets of visuals, each a SQL dataset with a chart type,
// stored by inlet (GET/PUT/DELETE /v1/dashboards/{name}) and opened by URL:
// #/dashboards/<name>?<filter>=<value>. Dashboard filters are values that a
// visual's SQL uses as {{id}} (replaced by a SQL string literal, or NULL when
// empty), e.g. WHERE ({{gender}} IS NULL OR gender = {{gender}}).
import {api, query, firstArray, ApiError} from '../api.js';
import {resultChart, CHART_TYPES} from '../charts.js';
import {queryErrorNotice} from '../query_gate.js';
import {h, clear, field, notice, sqlString} from '../util.js';

export const title = 'Dashboards';
export const needsKey = true;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$/;

const path = (name) => '/v1/dashboards/' + encodeURIComponent(name);

// Replaces {{id}} in `sql` by the filter's value as a SQL literal (NULL when empty).
export function bindFilters(sql, values) {
  return sql.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (m, id) => {
    if (!(id in values)) return m;
    const v = values[id];
    return v === '' || v === null || v === undefined ? 'NULL' : sqlString(v);
  });
}

async function listNames() {
  return firstArray(await api('/v1/dashboards'), ['dashboards']);
}

// Appends a visual to dashboard `name`, creating the dashboard when needed.
export async function saveVisual(name, visual) {
  if (!NAME_RE.test(name)) throw new Error('a name is 1-64 letters, digits, _ . -');
  const exists = (await listNames()).some((d) => (d.name ?? d) === name);
  const doc = exists ? await api(path(name)) : {name, title: name, filters: [], visuals: []};
  doc.visuals = [...(doc.visuals || []), visual];
  await api(path(name), {method: 'PUT', body: doc});
}

export function render(main, {params, query: q}) {
  if (params.length) return renderOne(main, params[0], q);
  return renderList(main);
}

function renderList(main) {
  let stopped = false;
  const listEl = h('div', {'aria-live': 'polite'}, h('p', {class: 'muted'}, 'Loading…'));
  const nameIn = h('input', {type: 'text', required: true, pattern: NAME_RE.source.slice(1, -1), 'data-testid': 'new-dashboard-name',
    placeholder: 'e.g. daily-presence'});
  const titleIn = h('input', {type: 'text', 'data-testid': 'new-dashboard-title', placeholder: 'Daily presence'});
  const out = h('div', {'aria-live': 'polite'});
  const form = h('form', {class: 'filters', 'aria-label': 'New dashboard'}, field('Name (in the URL)', nameIn, 'letters, digits, _ . -'),
      field('Title', titleIn), h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Create')), out);
  main.append(h('div', {class: 'page-head'}, h('h1', {}, 'Dashboards')),
      h('section', {class: 'card'}, h('h2', {}, 'Saved dashboards'), listEl),
      h('section', {class: 'card'}, h('h2', {}, 'New dashboard'), form));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = nameIn.value.trim();
    try {
      await api('/v1/dashboards', {method: 'POST', body: {name, title: titleIn.value.trim() || name, filters: [], visuals: []}});
      location.hash = '#/dashboards/' + encodeURIComponent(name) + '?edit=1';
    } catch (err) {
      clear(out).append(notice('error', 'Could not create: ' + err.message));
    }
  });
  listNames().then((items) => {
    if (stopped) return;
    clear(listEl).append(items.length ? h('ul', {class: 'dash-list', 'data-testid': 'dashboard-list'}, items.map((d) => h('li', {},
        h('a', {href: '#/dashboards/' + encodeURIComponent(d.name ?? d)}, d.title || d.name || d),
        h('span', {class: 'muted'}, ` ${d.name ?? d} · ${d.visuals ?? '?'} visuals` + (d.updated_ms ? ' · saved ' + new Date(d.updated_ms).toLocaleString() : ''))))) :
      notice('info', 'No dashboards yet. Create one below, or add a query result from the SQL page.'));
  }).catch((err) => !stopped && clear(listEl).append(notice('error', 'Cannot list dashboards: ' + err.message)));
  return () => {
    stopped = true;
  };
}

function renderOne(main, name, q) {
  let stopped = false;
  let doc = null;
  let editing = q.edit === '1';
  const head = h('div', {class: 'page-head'});
  const filtersEl = h('div');
  const msg = h('div', {'aria-live': 'polite'});
  const visualsEl = h('div', {class: 'visuals'});
  main.append(head, msg, filtersEl, visualsEl);

  const filterValues = () => Object.fromEntries((doc.filters || []).map((f) => [f.id, q[f.id] ?? f.value ?? '']));

  function renderHead() {
    const editBtn = h('button', {type: 'button', 'aria-pressed': editing ? 'true' : 'false', onclick: () => { editing = !editing; draw(); }}, editing ? 'Done editing' : 'Edit');
    const delBtn = h('button', {type: 'button', class: 'danger', onclick: async () => {
      if (!confirm(`Delete the dashboard "${name}"?`)) return;
      try {
        await api(path(name), {method: 'DELETE'});
        location.hash = '#/dashboards';
      } catch (err) {
        clear(msg).append(notice('error', 'Could not delete: ' + err.message));
      }
    }}, 'Delete');
    clear(head).append(h('h1', {'data-testid': 'dashboard-title'}, doc.title || name),
        h('div', {class: 'toolbar'}, h('a', {href: '#/dashboards'}, 'All dashboards'), editBtn, delBtn));
  }

  function renderFilters() {
    clear(filtersEl);
    const fs = doc.filters || [];
    if (!fs.length && !editing) return;
    const vals = filterValues();
    const inputs = fs.map((f) => h('input', {type: 'text', value: vals[f.id], 'data-filter': f.id}));
    const form = h('form', {class: 'filters', 'aria-label': 'Dashboard filters'},
        fs.map((f, i) => field(f.label || f.id, inputs[i], `{{${f.id}}}`)),
        fs.length ? h('div', {class: 'actions'}, h('button', {type: 'submit', class: 'primary'}, 'Apply')) : null);
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      const p = new URLSearchParams();
      fs.forEach((f, i) => inputs[i].value && p.set(f.id, inputs[i].value));
      for (const [k, v] of p) q[k] = v;
      for (const f of fs) if (!p.has(f.id)) delete q[f.id];
      history.replaceState(null, '', '#/dashboards/' + encodeURIComponent(name) + (p.toString() ? '?' + p : ''));
      drawVisuals();
    });
    filtersEl.append(form);
    if (editing) {
      const idIn = h('input', {type: 'text', pattern: '[A-Za-z_][A-Za-z0-9_]*', required: true});
      const labelIn = h('input', {type: 'text'});
      const add = h('form', {class: 'filters', 'aria-label': 'Add a filter'}, field('New filter id', idIn), field('Label', labelIn),
          h('div', {class: 'actions'}, h('button', {type: 'submit'}, 'Add filter')),
          fs.map((f, i) => h('button', {type: 'button', onclick: () => { doc.filters.splice(i, 1); draw(); }}, `Remove filter ${f.id}`)));
      add.addEventListener('submit', (e) => {
        e.preventDefault();
        doc.filters = [...fs, {id: idIn.value, label: labelIn.value || idIn.value, value: ''}];
        draw();
      });
      filtersEl.append(add);
    }
  }

  function visualEditor(v, i) {
    const titleIn = h('input', {type: 'text', value: v.title || ''});
    const sqlIn = h('textarea', {rows: 5, class: 'editor', spellcheck: 'false', value: v.sql || ''});
    const chartSel = h('select', {}, CHART_TYPES.map((t) => h('option', {value: t, selected: t === (v.chart || 'table')}, t)));
    const xIn = h('input', {type: 'text', value: v.x || '', placeholder: 'auto'});
    const yIn = h('input', {type: 'text', value: (v.y || []).join(', '), placeholder: 'auto'});
    const gIn = h('input', {type: 'text', value: v.group || '', placeholder: 'none'});
    const sync = () => {
      Object.assign(v, {title: titleIn.value, sql: sqlIn.value, chart: chartSel.value, x: xIn.value || undefined,
        y: yIn.value ? yIn.value.split(',').map((s) => s.trim()).filter(Boolean) : undefined, group: gIn.value || undefined});
    };
    for (const el of [titleIn, sqlIn, chartSel, xIn, yIn, gIn]) el.addEventListener('change', sync);
    const move = (d) => {
      const j = i + d;
      if (j < 0 || j >= doc.visuals.length) return;
      [doc.visuals[i], doc.visuals[j]] = [doc.visuals[j], doc.visuals[i]];
      draw();
    };
    return h('div', {class: 'visual-editor'}, field('Title', titleIn), field('SQL', sqlIn), h('div', {class: 'toolbar'},
        field('Chart', chartSel), field('X column', xIn), field('Y columns', yIn), field('Series by', gIn)),
    h('div', {class: 'toolbar'}, h('button', {type: 'button', onclick: () => move(-1), disabled: i === 0}, 'Move up'),
        h('button', {type: 'button', onclick: () => move(1), disabled: i === doc.visuals.length - 1}, 'Move down'),
        h('button', {type: 'button', class: 'danger', onclick: () => { doc.visuals.splice(i, 1); draw(); }}, 'Remove visual')));
  }

  async function drawVisuals() {
    clear(visualsEl);
    const vals = filterValues();
    const cards = (doc.visuals || []).map((v, i) => {
      const body = h('div', {class: 'visual-body'});
      const card = h('section', {class: 'card visual', 'data-testid': 'visual', 'aria-label': v.title || `Visual ${i + 1}`},
          h('h2', {class: 'visual-title'}, v.title || `Visual ${i + 1}`),
          editing ? visualEditor(v, i) : h('details', {class: 'sql-details'}, h('summary', {}, 'SQL'), h('pre', {}, v.sql)), body);
      visualsEl.append(card);
      return {v, body};
    });
    if (editing) {
      const addBtn = h('button', {type: 'button', 'data-testid': 'add-visual', onclick: () => {
        doc.visuals = [...(doc.visuals || []), {title: 'New visual', sql: 'SELECT 1 AS value', chart: 'number'}];
        draw();
      }}, 'Add visual');
      const saveBtn = h('button', {type: 'button', class: 'primary', 'data-testid': 'save-dashboard', onclick: save}, 'Save dashboard');
      const titleIn = h('input', {type: 'text', value: doc.title || '', 'data-testid': 'dashboard-title-input'});
      titleIn.addEventListener('change', () => { doc.title = titleIn.value; });
      visualsEl.prepend(h('section', {class: 'card'}, h('div', {class: 'toolbar'}, field('Dashboard title', titleIn), addBtn, saveBtn)));
    }
    if (!cards.length) visualsEl.append(notice('info', editing ? 'No visuals yet: add one.' : 'This dashboard has no visuals yet. Use Edit, or "Add to dashboard" on the SQL page.'));
    // One query at a time: the query API limits concurrent queries.
    for (const {v, body} of cards) {
      if (stopped) return;
      body.append(h('p', {class: 'muted'}, 'Loading…'));
      try {
        const r = await query(bindFilters(v.sql, vals), {maxRows: 10000});
        if (stopped) return;
        resultChart(body, r, v);
      } catch (err) {
        if (stopped) return;
        clear(body).append(queryErrorNotice(err));
      }
    }
  }

  async function save() {
    for (const el of visualsEl.querySelectorAll('input, textarea, select')) el.dispatchEvent(new Event('change'));
    try {
      await api(path(name), {method: 'PUT', body: doc});
      clear(msg).append(notice('info', 'Saved. Open it any time at ', h('a', {href: '#/dashboards/' + encodeURIComponent(name)}, location.origin + '/#/dashboards/' + name)));
    } catch (err) {
      clear(msg).append(notice('error', 'Could not save: ' + err.message));
    }
  }

  function draw() {
    renderHead();
    renderFilters();
    drawVisuals();
  }

  api(path(name)).then((d) => {
    if (stopped) return;
    doc = d && typeof d === 'object' ? d : {};
    doc.name = name;
    doc.visuals = Array.isArray(doc.visuals) ? doc.visuals : [];
    doc.filters = Array.isArray(doc.filters) ? doc.filters : [];
    draw();
  }).catch((err) => {
    if (stopped) return;
    main.prepend(h('h1', {}, name));
    clear(msg).append(err instanceof ApiError && err.status === 404 ?
      notice('warn', `There is no dashboard named "${name}". `, h('a', {href: '#/dashboards'}, 'See all dashboards.')) :
      notice('error', 'Cannot open the dashboard: ' + err.message));
  });
  return () => {
    stopped = true;
  };
}
