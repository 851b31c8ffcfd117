// Prometheus text format (as served by GET /metrics) to samples, and the
// sums and groupings the Pipeline page needs.

// Parses the exposition text into [{name, labels: {k: v}, value}].
export function parseMetrics(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let lm;
      while ((lm = re.exec(m[3]))) labels[lm[1]] = lm[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    }
    let value = Number(m[4]);
    if (m[4] === '+Inf') value = Infinity;
    else if (m[4] === '-Inf') value = -Infinity;
    out.push({name: m[1], labels, value});
  }
  return out;
}

export class MetricSet {
  constructor(samples) {
    this.samples = samples;
  }
  // Samples of `name` whose labels include `where`.
  select(name, where = {}) {
    return this.samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));
  }
  has(name) {
    return this.samples.some((s) => s.name === name);
  }
  // Sum of every sample of `name` (null when there is none).
  sum(name, where = {}) {
    const s = this.select(name, where);
    return s.length ? s.reduce((a, b) => a + b.value, 0) : null;
  }
  // {labelValue: sum} for `name` grouped by `label`.
  by(name, label, where = {}) {
    const out = {};
    for (const s of this.select(name, where)) {
      const k = s.labels[label] ?? '';
      out[k] = (out[k] || 0) + s.value;
    }
    return out;
  }
  // Metric names matching a regular expression.
  names(re) {
    return [...new Set(this.samples.map((s) => s.name).filter((n) => re.test(n)))].sort();
  }
  // Quantile q of a histogram `name` (its _bucket series summed over labels):
  // the upper bound of the bucket holding the q-th observation; null when empty.
  quantile(name, q, where = {}) {
    const buckets = {};
    for (const s of this.select(name + '_bucket', where)) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      buckets[le] = (buckets[le] || 0) + s.value;
    }
    const bounds = Object.keys(buckets).map(Number).sort((a, b) => a - b);
    if (!bounds.length) return null;
    const total = buckets[bounds[bounds.length - 1]];
    if (!total) return null;
    const rank = q * total;
    for (const b of bounds) {
      if (buckets[b] >= rank) return Number.isFinite(b) ? b : bounds[bounds.length - 2] ?? null;
    }
    return null;
  }
}
