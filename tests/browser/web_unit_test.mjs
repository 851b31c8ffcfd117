// Unit tests of the dashboard's pure helpers (no browser): the Prometheus
// text parser and histogram quantiles, time parsing, CSV, SQL literals, the
// presence filter clause and dashboard filter binding.
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {parseMetrics, MetricSet} from '../../web/js/metrics.js';
import {toMillis, toCsv, sqlString, sqlTimestamp, fmtBytes, fmtNumber} from '../../web/js/util.js';
import {presenceWhere} from '../../web/js/pages/presence.js';
import {bindFilters} from '../../web/js/pages/dashboards.js';
import {guessAxes} from '../../web/js/charts.js';

const METRICS = `# HELP inlet_ingest_events_total Events accepted and durable
# TYPE inlet_ingest_events_total counter
inlet_ingest_events_total{topic="events"} 1200
inlet_ingest_events_total{topic="other"} 34
inlet_ingest_rejected_total{topic="events",reason="malformed_json"} 2
inlet_subscription_backlog{subscription="raw-delivery"} 5
inlet_subscription_backlog{subscription="processing"} 7
inlet_odd{label="a \\"quoted\\" value"} 1.5e3
inlet_ingest_ack_latency_seconds_bucket{topic="events",le="0.001"} 50
inlet_ingest_ack_latency_seconds_bucket{topic="events",le="0.01"} 98
inlet_ingest_ack_latency_seconds_bucket{topic="events",le="0.1"} 100
inlet_ingest_ack_latency_seconds_bucket{topic="events",le="+Inf"} 100
`;

test('Prometheus text: sums, groups, escaped labels', () => {
  const m = new MetricSet(parseMetrics(METRICS));
  assert.equal(m.sum('inlet_ingest_events_total'), 1234);
  assert.equal(m.sum('inlet_ingest_events_total', {topic: 'events'}), 1200);
  assert.equal(m.sum('inlet_missing'), null);
  assert.deepEqual(m.by('inlet_subscription_backlog', 'subscription'), {'raw-delivery': 5, processing: 7});
  assert.equal(m.select('inlet_odd')[0].labels.label, 'a "quoted" value');
  assert.equal(m.select('inlet_odd')[0].value, 1500);
});

test('histogram quantiles come from cumulative buckets', () => {
  const m = new MetricSet(parseMetrics(METRICS));
  assert.equal(m.quantile('inlet_ingest_ack_latency_seconds', 0.5), 0.001);
  assert.equal(m.quantile('inlet_ingest_ack_latency_seconds', 0.99), 0.1);
  assert.equal(m.quantile('inlet_missing', 0.99), null);
});

test('timestamps without a zone are UTC; zones and fractions are honoured', () => {
  assert.equal(toMillis('2024-05-01 12:00:00'), Date.UTC(2024, 4, 1, 12));
  assert.equal(toMillis('2024-05-01T12:00:00.250Z'), Date.UTC(2024, 4, 1, 12) + 250);
  assert.equal(toMillis('2024-05-01T14:00:00+02:00'), Date.UTC(2024, 4, 1, 12));
  assert.equal(toMillis('2024-05-01'), Date.UTC(2024, 4, 1));
  assert.ok(Number.isNaN(toMillis('Citi Bike')));
  assert.equal(sqlTimestamp(Date.UTC(2024, 4, 1, 12)), "TIMESTAMP '2024-05-01 12:00:00.000'");
});

test('CSV quotes what needs quoting', () => {
  const csv = toCsv([{name: 'a'}, {name: 'b,c'}], [['x', 1], ['say "hi"', null], ['line\nbreak', 2.5]]);
  assert.equal(csv, 'a,"b,c"\r\nx,1\r\n"say ""hi""",\r\nline\nbreak,2.5\r\n'.replace('line\nbreak', '"line\nbreak"'));
});

test('SQL string literals escape quotes', () => {
  assert.equal(sqlString("O'Brien's"), "'O''Brien''s'");
});

test('presence filters become one WHERE clause, relative ranges end at the newest window', () => {
  const last = Date.UTC(2024, 4, 1, 12);
  assert.equal(presenceWhere({poi: [], gender: '', age: '', range: 'all'}, {last_ms: last}), '');
  assert.equal(presenceWhere({poi: ['a', "b'c"], gender: 'F', age: '25-34', range: '1h'}, {last_ms: last}),
      "WHERE poi_id IN ('a', 'b''c') AND gender = 'F' AND age_band = '25-34' AND window_start >= TIMESTAMP '2024-05-01 11:00:00.000'");
  assert.equal(presenceWhere({poi: [], range: 'custom', from: '2024-05-01T10:00', to: '2024-05-01T11:00'}, null),
      "WHERE window_start >= TIMESTAMP '2024-05-01 10:00:00.000' AND window_start < TIMESTAMP '2024-05-01 11:00:00.000'");
});

test('dashboard filters bind as literals or NULL; unknown placeholders stay', () => {
  const sql = 'SELECT * FROM t WHERE ({{gender}} IS NULL OR gender = {{ gender }}) AND x = {{other}}';
  assert.equal(bindFilters(sql, {gender: "F'"}), "SELECT * FROM t WHERE ('F''' IS NULL OR gender = 'F''') AND x = {{other}}");
  assert.equal(bindFilters(sql, {gender: ''}), 'SELECT * FROM t WHERE (NULL IS NULL OR gender = NULL) AND x = {{other}}');
});

test('a one-click chart picks time or text for x and numbers for y', () => {
  const g = guessAxes({columns: [{name: 't', type: 'TIMESTAMP'}, {name: 'poi', type: 'VARCHAR'}, {name: 'n', type: 'BIGINT'}],
    rows: [['2024-05-01 12:00:00', 'a', 1]]});
  assert.equal(g.x, 't');
  assert.deepEqual(g.y, ['n']);
  assert.equal(g.group, 'poi');
  const g2 = guessAxes({columns: [{name: 'category'}, {name: 'count'}], rows: [['x', 3], ['y', 4]]});
  assert.equal(g2.x, 'category');
  assert.deepEqual(g2.y, ['count']);
});

test('number formats', () => {
  assert.equal(fmtNumber(1234567), '1,234,567');
  assert.equal(fmtNumber(null), '–');
  assert.equal(fmtBytes(1536), '1.5 KiB');
});
