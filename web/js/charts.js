// ECharts (the bundle embedded in inlet, loaded as window.echarts) behind a
// few helpers: mounting with resize and disposal, a chart from any query
// result, and the offline POI map (scatter on a plain lon/lat projection).
import {h, clear, fmtNumber, toMillis, resultTable, notice} from './util.js';

const mounted = new Set();

export function chartsAvailable() {
  return typeof window.echarts === 'object' && window.echarts !== null;
}

// Mounts a chart in `el` (sized by CSS) and returns the ECharts instance, or
// null (with a notice) when the build has no ECharts.
export function mount(el, option, label) {
  if (!chartsAvailable()) {
    clear(el).append(notice('warn', 'Charts are unavailable: this inlet was built without ECharts (run scripts/bootstrap and rebuild).'));
    return null;
  }
  el.classList.add('chart');
  el.setAttribute('role', 'img');
  if (label) el.setAttribute('aria-label', label);
  const existing = window.echarts.getInstanceByDom(el);
  const chart = existing || window.echarts.init(el, null, {renderer: 'svg', useUTC: true});
  chart.setOption({animation: false, useUTC: true, ...option}, true);
  if (!existing) {
    const ro = new ResizeObserver(() => chart.resize());
    ro.observe(el);
    const entry = {chart, ro};
    mounted.add(entry);
  }
  return chart;
}

// Disposes every chart (on page change).
export function disposeAll() {
  for (const {chart, ro} of mounted) {
    ro.disconnect();
    chart.dispose();
  }
  mounted.clear();
}

const tooltip = {trigger: 'axis', confine: true};
const legend = (names) => ({type: 'scroll', top: 0, data: names});
const grid = {left: 56, right: 24, top: 40, bottom: 48, containLabel: true};

// A multi-line time chart: series = [{name, points: [[ms, value], ...]}].
export function timeLines(el, series, {label, yName, stack = false, area = false} = {}) {
  return mount(el, {
    tooltip, legend: legend(series.map((s) => s.name)), grid,
    xAxis: {type: 'time'},
    yAxis: {type: 'value', name: yName, minInterval: 1},
    dataZoom: [{type: 'inside'}],
    series: series.map((s) => ({name: s.name, type: 'line', showSymbol: s.points.length < 60, stack: stack ? 'total' : undefined,
      areaStyle: area ? {} : undefined, data: s.points})),
  }, label);
}

// Stacked (or grouped) bars: categories on x, one series per group.
export function bars(el, categories, series, {label, yName, stack = true, horizontal = false} = {}) {
  const cat = {type: 'category', data: categories};
  const val = {type: 'value', name: yName};
  return mount(el, {
    tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'}, confine: true},
    legend: legend(series.map((s) => s.name)), grid,
    xAxis: horizontal ? val : cat, yAxis: horizontal ? cat : val,
    series: series.map((s) => ({name: s.name, type: 'bar', stack: stack ? 'total' : undefined, data: s.values,
      label: {show: categories.length <= 12 && series.length <= 4, position: stack ? 'inside' : 'top', formatter: (p) => p.value ? fmtNumber(p.value) : ''}})),
  }, label);
}

// The POI map: points on an equirectangular projection (x = lon, y = lat,
// x scaled by cos(mean latitude) so that distances look right), circles
// sized by value, labelled by name. No tiles: nothing is fetched.
export function poiMap(el, points, {label, valueName = 'persons'} = {}) {
  if (!points.length) return mount(el, {title: {text: 'No POIs in the selection', left: 'center', top: 'middle', textStyle: {fontSize: 14}}}, label);
  const lats = points.map((p) => p.lat), lons = points.map((p) => p.lon);
  let [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const midLat = (minLat + maxLat) / 2;
  const k = Math.max(0.05, Math.cos(midLat * Math.PI / 180));
  // Pad, then widen one axis so that the box has the element's aspect ratio.
  let spanLat = Math.max(maxLat - minLat, 0.002) * 1.25, spanLon = Math.max(maxLon - minLon, 0.002) * 1.25;
  const cLat = (minLat + maxLat) / 2, cLon = (minLon + maxLon) / 2;
  const w = el.clientWidth || 600, hgt = el.clientHeight || 400;
  const aspect = (w - 80) / Math.max(1, hgt - 60);
  if ((spanLon * k) / spanLat < aspect) spanLon = spanLat * aspect / k;
  else spanLat = spanLon * k / aspect;
  const maxV = Math.max(1, ...points.map((p) => p.value || 0));
  const deg = (v) => v.toFixed(Math.abs(spanLat) < 0.1 ? 3 : 2) + '°';
  return mount(el, {
    tooltip: {trigger: 'item', confine: true, formatter: (p) => `${p.data.name}<br>${valueName}: ${fmtNumber(p.data.value[2])}<br>${p.data.value[1].toFixed(5)}, ${p.data.value[0].toFixed(5)}`},
    grid: {left: 56, right: 24, top: 16, bottom: 40},
    xAxis: {type: 'value', min: cLon - spanLon / 2, max: cLon + spanLon / 2, name: 'lon', axisLabel: {formatter: deg, showMinLabel: false, showMaxLabel: false}, splitLine: {lineStyle: {type: 'dashed'}}},
    yAxis: {type: 'value', min: cLat - spanLat / 2, max: cLat + spanLat / 2, name: 'lat', axisLabel: {formatter: deg, showMinLabel: false, showMaxLabel: false}, splitLine: {lineStyle: {type: 'dashed'}}},
    series: [{type: 'scatter', name: valueName,
      data: points.map((p) => ({name: p.name, value: [p.lon, p.lat, p.value || 0]})),
      symbolSize: (v) => 6 + 44 * Math.sqrt((v[2] || 0) / maxV),
      itemStyle: {opacity: 0.6},
      label: {show: true, position: 'right', formatter: (p) => `${p.data.name} (${fmtNumber(p.data.value[2])})`, fontSize: 11},
      labelLayout: {hideOverlap: true},
    }],
  }, label);
}

export const CHART_TYPES = ['table', 'number', 'bar', 'stacked_bar', 'line', 'area', 'pie', 'scatter', 'map'];

// Picks x, y and group columns for a result when the visual does not name them:
// x = first time or text column, y = numeric columns, group = a second text column.
export function guessAxes(result) {
  const cols = result.columns;
  const kind = cols.map((c, i) => {
    const t = (c.type || '').toUpperCase();
    const vals = result.rows.slice(0, 50).map((r) => r[i]).filter((v) => v !== null && v !== undefined);
    if (/TIMESTAMP|DATE|TIME/.test(t) || (vals.length && vals.every((v) => typeof v === 'string' && Number.isFinite(toMillis(v))))) return 'time';
    if (/INT|DOUBLE|FLOAT|DECIMAL|REAL|NUMERIC|HUGEINT/.test(t) || (vals.length && vals.every((v) => typeof v === 'number'))) return 'number';
    return 'text';
  });
  const idx = (k) => kind.map((x, i) => (x === k ? i : -1)).filter((i) => i >= 0);
  const times = idx('time'), texts = idx('text'), nums = idx('number');
  const x = times[0] ?? texts[0] ?? nums[0] ?? 0;
  const rest = nums.filter((i) => i !== x);
  const group = times.length && texts.length ? texts[0] : (texts.length > 1 && x === texts[0] ? texts[1] : undefined);
  return {x: cols[x]?.name, y: (rest.length ? rest : nums).map((i) => cols[i].name), group: group === undefined ? undefined : cols[group].name, kind: Object.fromEntries(cols.map((c, i) => [c.name, kind[i]]))};
}

// Renders a query result in `el` as `spec.chart` (see CHART_TYPES); spec.x,
// spec.y (list) and spec.group name columns, guessed when absent.
export function resultChart(el, result, spec = {}) {
  clear(el);
  const type = spec.chart || 'table';
  if (type === 'table') {
    el.append(resultTable(result.columns, result.rows.slice(0, 200), {caption: spec.title}));
    return null;
  }
  const g = guessAxes(result);
  const ci = (name) => result.columns.findIndex((c) => c.name === name);
  const x = spec.x || g.x;
  const ys = spec.y && spec.y.length ? spec.y : g.y;
  const group = spec.group || (ys.length === 1 ? g.group : undefined);
  const xi = ci(x);
  const label = (spec.title || 'chart') + ': ' + ys.join(', ') + ' by ' + x;
  if (type === 'number') {
    const yi = ci(ys[0] ?? x);
    const v = result.rows.length ? result.rows[0][yi] : null;
    el.append(h('div', {class: 'big-number', 'data-testid': 'visual-number'}, fmtNumber(v)), h('div', {class: 'muted'}, ys[0] ?? x));
    return null;
  }
  const target = h('div', {class: 'chart'});
  el.append(target);
  if (!result.rows.length) {
    el.replaceChildren(notice('info', 'The query returned no rows.'));
    return null;
  }
  if (type === 'map') {
    const lat = ci(spec.lat || result.columns.find((c) => /^lat/i.test(c.name))?.name);
    const lon = ci(spec.lon || result.columns.find((c) => /^(lon|lng)/i.test(c.name))?.name);
    if (lat < 0 || lon < 0) {
      el.replaceChildren(notice('warn', 'A map needs columns named lat and lon.'));
      return null;
    }
    const name = ci(result.columns.find((c, i) => i !== lat && i !== lon && g.kind[c.name] === 'text')?.name);
    const val = ci(ys.find((n) => ci(n) !== lat && ci(n) !== lon));
    return poiMap(target, result.rows.map((r) => ({lat: r[lat], lon: r[lon], name: name >= 0 ? String(r[name]) : '', value: val >= 0 ? r[val] : 1})), {label});
  }
  if (type === 'pie') {
    const yi = ci(ys[0]);
    return mount(target, {tooltip: {trigger: 'item', confine: true}, legend: {type: 'scroll', top: 0},
      series: [{type: 'pie', radius: ['30%', '65%'], data: result.rows.map((r) => ({name: String(r[xi]), value: r[yi]})),
        label: {formatter: '{b}: {c}'}}]}, label);
  }
  const isTime = g.kind[x] === 'time';
  const xv = (v) => (isTime ? toMillis(v) : v);
  // Series: one per y column, or one per value of the group column.
  let series;
  if (group) {
    const gi = ci(group), yi = ci(ys[0]);
    const byGroup = new Map();
    for (const r of result.rows) {
      const k = String(r[gi]);
      if (!byGroup.has(k)) byGroup.set(k, []);
      byGroup.get(k).push([xv(r[xi]), r[yi]]);
    }
    series = [...byGroup].map(([name, data]) => ({name, data}));
  } else {
    series = ys.map((n) => ({name: n, data: result.rows.map((r) => [xv(r[xi]), r[ci(n)]])}));
  }
  if (type === 'scatter') {
    return mount(target, {tooltip: {trigger: 'item', confine: true}, legend: legend(series.map((s) => s.name)), grid,
      xAxis: {type: isTime ? 'time' : 'value', name: x, scale: true}, yAxis: {type: 'value', scale: true},
      series: series.map((s) => ({...s, type: 'scatter'}))}, label);
  }
  const stacked = type === 'stacked_bar' || type === 'area';
  const chartType = type === 'line' || type === 'area' ? 'line' : 'bar';
  let xAxis;
  if (isTime) {
    xAxis = {type: 'time', name: x};
  } else {
    const cats = [...new Set(result.rows.map((r) => String(r[xi])))];
    xAxis = {type: 'category', name: x, data: cats};
    series = series.map((s) => {
      const m = new Map(s.data.map(([k, v]) => [String(k), v]));
      return {...s, data: cats.map((c) => m.get(c) ?? null)};
    });
  }
  return mount(target, {
    tooltip: {trigger: 'axis', confine: true}, legend: legend(series.map((s) => s.name)), grid, xAxis,
    yAxis: {type: 'value'}, dataZoom: isTime ? [{type: 'inside'}] : undefined,
    series: series.map((s) => ({...s, type: chartType, stack: stacked ? 'total' : undefined, areaStyle: type === 'area' ? {} : undefined,
      showSymbol: s.data.length < 60})),
  }, label);
}
