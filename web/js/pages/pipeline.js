// Pipeline: live figures from GET /metrics (no key needed), refreshed every
// few seconds: ingest rate and bytes, rejections, per-subscription backlog
// and oldest unacknowledged age, workers and scaling, delivery latency and
// files written. Rates are computed between two scrapes.
import {api} from '../api.js';
import {parseMetrics, MetricSet} from '../metrics.js';
import {timeLines} from '../charts.js';
import {h, clear, fmtNumber, fmtBytes, fmtRate, fmtSeconds, notice, field} from '../util.js';

export const title = 'Pipeline';
const HISTORY = 120;  // samples kept for the charts

function tile(id, label, unit) {
  return h('div', {class: 'tile'}, h('div', {class: 'tile-label', id: id + '-label'}, label),
      h('div', {class: 'tile-value', 'data-testid': id, 'aria-labelledby': id + '-label', 'aria-live': 'off'}, '–'),
      unit ? h('div', {class: 'tile-unit'}, unit) : null);
}

export function render(main) {
  let timer = null;
  let stopped = false;
  let prev = null;  // {t, events, bytes, rejected, files}
  const history = {t: [], rate: [], backlog: {}};
  const interval = h('select', {}, [2, 3, 5, 10, 30].map((s) => h('option', {value: s, selected: s === 3}, s + ' s')),
      h('option', {value: 0}, 'paused'));
  const status = h('span', {class: 'muted', 'data-testid': 'last-refresh', 'aria-live': 'polite'}, '');
  main.append(
      h('div', {class: 'page-head'}, h('h1', {}, 'Pipeline'),
          h('div', {class: 'toolbar'}, field('Refresh every', interval), status)),
      h('section', {class: 'tiles', 'aria-label': 'Headline figures'},
          tile('stat-events-rate', 'Ingest rate', 'events/s'),
          tile('stat-events-total', 'Events ingested', 'since start'),
          tile('stat-bytes-rate', 'Ingest bytes', '/s'),
          tile('stat-bytes-total', 'Bytes ingested', 'since start'),
          tile('stat-rejected-total', 'Rejected at ingest', 'events or requests'),
          tile('stat-ack-p99', 'Ack latency p99', 'durable'),
          tile('stat-backlog-total', 'Backlog', 'all subscriptions'),
          tile('stat-files-total', 'Files written', 'Parquet'),
          tile('stat-delivery-latency', 'Delivery latency', 'last flush'),
          tile('stat-workers', 'Workers', 'processing')),
      h('div', {class: 'grid2'},
          h('section', {class: 'card'}, h('h2', {}, 'Ingest rate'), h('div', {class: 'chart', id: 'chart-rate'})),
          h('section', {class: 'card'}, h('h2', {}, 'Backlog by subscription'), h('div', {class: 'chart', id: 'chart-backlog'}))),
      h('section', {class: 'card'}, h('h2', {}, 'Subscriptions'), h('div', {id: 'subs'})),
      h('div', {class: 'grid2'},
          h('section', {class: 'card'}, h('h2', {}, 'Rejections by reason'), h('div', {id: 'rejections'})),
          h('section', {class: 'card'}, h('h2', {}, 'Delivery streams'), h('div', {id: 'delivery'}))),
      h('div', {class: 'grid2'},
          h('section', {class: 'card'}, h('h2', {}, 'Workers and scaling'), h('div', {id: 'workers'})),
          h('section', {class: 'card'}, h('h2', {}, 'Log'), h('div', {id: 'log'}))),
      h('div', {id: 'pipeline-error'}));

  const set = (id, text) => {
    const el = main.querySelector(`[data-testid="${id}"]`);
    if (el) el.textContent = text;
  };

  function table(rows, headers, testid) {
    if (!rows.length) return notice('info', 'Nothing reported yet.');
    return h('div', {class: 'table-wrap'}, h('table', {class: 'data', 'data-testid': testid},
        h('thead', {}, h('tr', {}, headers.map((x, i) => h('th', {scope: 'col', class: i ? 'num' : null}, x)))),
        h('tbody', {}, rows.map((r) => h('tr', {}, r.map((v, i) => (i === 0 ? h('th', {scope: 'row'}, v) : h('td', {class: 'num'}, v))))))));
  }

  function update(m, now) {
    const events = m.sum('inlet_ingest_events_total') ?? 0;
    const bytes = m.sum('inlet_ingest_bytes_total') ?? 0;
    const rejected = m.sum('inlet_ingest_rejected_total') ?? 0;
    const files = m.sum('inlet_delivery_files_total');
    let rate = null, byteRate = null;
    if (prev && now > prev.t) {
      const dt = (now - prev.t) / 1000;
      rate = Math.max(0, (events - prev.events) / dt);
      byteRate = Math.max(0, (bytes - prev.bytes) / dt);
    }
    prev = {t: now, events, bytes};
    set('stat-events-total', fmtNumber(events));
    set('stat-bytes-total', fmtBytes(bytes));
    set('stat-rejected-total', fmtNumber(rejected));
    set('stat-events-rate', rate === null ? 'measuring…' : fmtRate(rate));
    set('stat-bytes-rate', byteRate === null ? 'measuring…' : fmtBytes(byteRate));
    set('stat-ack-p99', fmtSeconds(m.quantile('inlet_ingest_ack_latency_seconds', 0.99)));
    set('stat-backlog-total', fmtNumber(m.sum('inlet_subscription_backlog') ?? 0));
    set('stat-files-total', files === null ? 'no stream' : fmtNumber(files));
    const lat = m.select('inlet_delivery_last_latency_seconds').map((s) => s.value);
    set('stat-delivery-latency', lat.length ? fmtSeconds(Math.max(...lat)) : '–');

    // Subscriptions.
    const subs = Object.keys(m.by('inlet_subscription_backlog', 'subscription')).sort();
    const one = (name, sub) => m.sum(name, {subscription: sub});
    clear(main.querySelector('#subs')).append(table(subs.map((s) => [s,
      fmtNumber(one('inlet_subscription_backlog', s)), fmtNumber(one('inlet_subscription_in_flight', s)),
      fmtSeconds(one('inlet_subscription_oldest_unacked_age_seconds', s)),
      fmtNumber(one('inlet_subscription_delivered_total', s)), fmtNumber(one('inlet_subscription_acked_total', s)),
      fmtNumber(one('inlet_subscription_dead_lettered_total', s))]),
    ['Subscription', 'Backlog', 'In flight', 'Oldest unacked', 'Delivered', 'Acked', 'Dead-lettered'], 'subscriptions-table'));

    // Rejections at ingest, by reason and topic.
    const rej = m.select('inlet_ingest_rejected_total').filter((s) => s.value > 0);
    clear(main.querySelector('#rejections')).append(table(rej.map((s) => [s.labels.reason || '?', s.labels.topic || '', fmtNumber(s.value)]),
        ['Reason', 'Topic', 'Count'], 'rejections-table'));

    // Delivery streams.
    const streams = Object.keys(m.by('inlet_delivery_files_total', 'stream')).sort();
    const ds = (name, st) => m.sum(name, {stream: st});
    clear(main.querySelector('#delivery')).append(table(streams.map((st) => [st,
      fmtNumber(ds('inlet_delivery_files_total', st)), fmtBytes(ds('inlet_delivery_bytes_total', st)),
      fmtNumber(ds('inlet_delivery_rows_total', st)), fmtNumber(ds('inlet_delivery_error_rows_total', st)),
      fmtSeconds(ds('inlet_delivery_last_latency_seconds', st)), fmtBytes(ds('inlet_delivery_buffered_bytes', st))]),
    ['Stream', 'Files', 'Bytes', 'Rows', 'Error rows', 'Latency', 'Buffered'], 'delivery-table'));

    // Workers and scaling: whatever the processor exports (names containing
    // "worker" or "scal"), shown by metric and labels.
    const names = m.names(/^inlet_.*(worker|scal)/);
    const workerGauge = names.find((n) => /workers$/.test(n) && !/(min|max|desired|target)/.test(n));
    set('stat-workers', workerGauge ? fmtNumber(m.sum(workerGauge)) : 'not running');
    const rows = [];
    for (const n of names) {
      if (/_bucket$|_sum$|_count$/.test(n)) continue;
      for (const s of m.select(n)) {
        const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(', ');
        rows.push([n.replace(/^inlet_/, '') + (labels ? ` {${labels}}` : ''), fmtNumber(s.value)]);
      }
    }
    clear(main.querySelector('#workers')).append(rows.length ? table(rows, ['Metric', 'Value'], 'workers-table') :
        notice('info', 'No processor reports workers in this inlet.'));

    // Log.
    const topics = Object.keys(m.by('inlet_log_bytes', 'topic')).sort();
    clear(main.querySelector('#log')).append(table(topics.map((t) => [t, fmtBytes(m.sum('inlet_log_bytes', {topic: t})),
      fmtNumber(m.sum('inlet_log_segments', {topic: t})), fmtNumber(m.sum('inlet_log_last_seq', {topic: t})),
      fmtSeconds(m.sum('inlet_log_fsync_last_seconds', {topic: t}))]),
    ['Topic', 'Log bytes', 'Segments', 'Last seq', 'Last fsync'], 'log-table'));

    // Charts.
    history.t.push(now);
    history.rate.push(rate);
    for (const s of subs) (history.backlog[s] ||= []).push(one('inlet_subscription_backlog', s));
    for (const s of Object.keys(history.backlog)) {
      while (history.backlog[s].length < history.t.length) history.backlog[s].unshift(null);
    }
    if (history.t.length > HISTORY) {
      history.t.shift();
      history.rate.shift();
      for (const s of Object.keys(history.backlog)) history.backlog[s].shift();
    }
    const pts = (arr) => history.t.map((t, i) => [t, arr[i]]);
    timeLines(main.querySelector('#chart-rate'), [{name: 'events/s', points: pts(history.rate)}], {label: 'Ingest rate over time, events per second'});
    timeLines(main.querySelector('#chart-backlog'), Object.entries(history.backlog).map(([name, arr]) => ({name, points: pts(arr)})),
        {label: 'Backlog per subscription over time'});
  }

  async function tick() {
    timer = null;
    try {
      const text = await api('/metrics', {auth: false});
      if (stopped) return;
      update(new MetricSet(parseMetrics(String(text))), Date.now());
      status.textContent = 'updated ' + new Date().toLocaleTimeString();
      clear(main.querySelector('#pipeline-error'));
    } catch (e) {
      if (stopped) return;
      clear(main.querySelector('#pipeline-error')).append(notice('error', 'Cannot read /metrics: ' + e.message));
    }
    schedule();
  }
  function schedule() {
    if (stopped || timer) return;
    const s = Number(interval.value);
    if (s > 0) timer = setTimeout(tick, s * 1000);
  }
  interval.addEventListener('change', () => {
    clearTimeout(timer);
    timer = null;
    schedule();
  });
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
