// DOM and formatting helpers shared by the pages. No state.

// h('div', {class: 'x', onclick: fn}, 'text', child, [more]) builds an element.
// Attributes starting with "on" become listeners; `dataset`/`style` objects are merged;
// false/null/undefined attributes and children are skipped.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'multiple') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

const intFmt = new Intl.NumberFormat('en-US', {maximumFractionDigits: 0});
const decFmt = new Intl.NumberFormat('en-US', {maximumFractionDigits: 2});

// 1234567 -> "1,234,567"; non-integers get up to 2 decimals; null -> "–".
export function fmtNumber(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (typeof v !== 'number') return String(v);
  return Number.isInteger(v) ? intFmt.format(v) : decFmt.format(v);
}

export function fmtRate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v >= 100 ? intFmt.format(v) : decFmt.format(v);
}

export function fmtBytes(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? intFmt.format(v) : decFmt.format(v)) + ' ' + units[i];
}

export function fmtSeconds(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return '–';
  if (s === 0) return '0 s';
  if (s < 0.001) return decFmt.format(s * 1e6) + ' µs';
  if (s < 1) return decFmt.format(s * 1000) + ' ms';
  if (s < 120) return decFmt.format(s) + ' s';
  if (s < 7200) return decFmt.format(s / 60) + ' min';
  return decFmt.format(s / 3600) + ' h';
}

// A SQL string literal: 'it''s'.
export function sqlString(s) {
  return "'" + String(s).replace(/'/g, "''") + "'";
}

// A timestamp (ms since epoch) as a SQL TIMESTAMP literal in UTC.
export function sqlTimestamp(ms) {
  return "TIMESTAMP '" + new Date(ms).toISOString().replace('T', ' ').replace('Z', '') + "'";
}

// Milliseconds since the epoch for a query value (number, ISO or SQL
// timestamp text; text without a zone is UTC); NaN when it is not a time.
export function toMillis(v) {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return NaN;
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/.exec(v.trim());
  if (!m) return NaN;
  const frac = m[7] ? Number('0.' + m[7]) * 1000 : 0;
  let ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)) + Math.floor(frac);
  if (m[8] && m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1 : 1;
    const digits = m[8].slice(1).replace(':', '');
    const off = (+digits.slice(0, 2)) * 60 + (+(digits.slice(2) || 0));
    ms -= sign * off * 60000;
  }
  return ms;
}

export function fmtTime(ms) {
  ms = typeof ms === 'string' && /^-?\d+$/.test(ms) ? Number(ms) : ms;
  if (!Number.isFinite(ms)) return '–';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.000Z$|Z$/, '') + ' UTC';
}

// RFC 4180 CSV of a query result.
export function toCsv(columns, rows) {
  const cell = (v) => {
    if (v === null || v === undefined) return '';
    const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const lines = [columns.map((c) => cell(c.name)).join(',')];
  for (const r of rows) lines.push(r.map(cell).join(','));
  return lines.join('\r\n') + '\r\n';
}

export function download(filename, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], {type}));
  const a = h('a', {href: url, download: filename, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// A cell value as display text.
export function cellText(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return fmtNumber(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// A notice box: kind is "info", "warn" or "error".
export function notice(kind, ...children) {
  return h('div', {class: 'notice notice-' + kind, role: kind === 'error' ? 'alert' : 'status'}, ...children);
}

// A labelled form control: label(text, control).
export function field(text, control, hint) {
  const id = control.id || 'f-' + Math.random().toString(36).slice(2, 9);
  control.id = id;
  return h('div', {class: 'field'}, h('label', {for: id}, text), control, hint ? h('small', {}, hint) : null);
}

// A result table from {columns, rows}. Numbers are right-aligned.
export function resultTable(columns, rows, {caption, testid} = {}) {
  const numeric = columns.map((c, i) => rows.length > 0 && rows.every((r) => r[i] === null || typeof r[i] === 'number'));
  return h('div', {class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'results'},
      h('table', {class: 'data', 'data-testid': testid || null},
          caption ? h('caption', {}, caption) : null,
          h('thead', {}, h('tr', {}, columns.map((c, i) => h('th', {scope: 'col', class: numeric[i] ? 'num' : null, title: c.type || null}, c.name)))),
          h('tbody', {}, rows.map((r) => h('tr', {}, r.map((v, i) => h('td', {class: numeric[i] ? 'num' : (v === null ? 'null' : null)}, cellText(v))))))));
}
