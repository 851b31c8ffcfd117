// Shared handling of query failures on pages that need POST /v1/query.
import {ApiError} from './api.js';
import {notice, h} from './util.js';

// A notice explaining a failed query: the query API missing from this
// inlet, a missing key or scope, or the engine's message.
export function queryErrorNotice(e, what = 'The query') {
  if (e instanceof ApiError && e.missingEndpoint) {
    return notice('warn', h('strong', {}, 'The query API is not available in this inlet. '),
        'This page reads tables through POST /v1/query, which this build does not serve yet.');
  }
  if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
    return notice('error', 'Not allowed: ' + e.message + ' (the key needs the query scope).');
  }
  return notice('error', `${what} failed: ${e.message}`, e.code ? h('span', {class: 'muted'}, ` (${e.code})`) : null);
}
