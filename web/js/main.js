// The single-page app: hash routes (#/pipeline, #/presence, #/errors, #/sql,
// #/dashboards[/<name>]) to page modules, and the API key dialog.
// A page module exports render(main, {params, query}) returning a cleanup function.
import {getKey, setKey, onUnauthorized} from './api.js';
import {disposeAll} from './charts.js';
import * as pipeline from './pages/pipeline.js';
import * as presence from './pages/presence.js';
import * as errors from './pages/errors.js';
import * as sql from './pages/sql.js';
import * as dashboards from './pages/dashboards.js';
import {h, notice} from './util.js';

const pages = {pipeline, presence, errors, sql, dashboards};
const main = document.getElementById('main');
let cleanup = null;

// "#/dashboards/daily?gender=F" -> {page: 'dashboards', params: ['daily'], query: {gender: 'F'}}
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return {page: parts[0] || 'pipeline', params: parts.slice(1), query: Object.fromEntries(new URLSearchParams(qs || ''))};
}

function route() {
  const {page, params, query} = parseHash();
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.warn('cleanup failed', e);
    }
    cleanup = null;
  }
  disposeAll();
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  main.replaceChildren();
  const mod = pages[page];
  if (!mod) {
    main.append(h('h1', {}, 'Not found'), notice('warn', 'There is no page "' + page + '". ', h('a', {href: '#/pipeline'}, 'Go to the pipeline.')));
    return;
  }
  document.title = (mod.title || page) + ' · inlet';
  if (mod.needsKey && !getKey()) {
    // No request without a key: it could only be refused.
    main.append(h('h1', {}, mod.title || page), notice('info', 'This page reads inlet through its API and needs an API key. ',
        h('button', {type: 'button', class: 'primary', onclick: () => askKey()}, 'Enter API key')));
    return;
  }
  cleanup = mod.render(main, {params, query}) || null;
}

// Moves focus to the new page's heading after a navigation by the user, so
// keyboard and screen-reader users land on the content.
function focusHeading() {
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.setAttribute('tabindex', '-1');
    h1.focus({preventScroll: false});
  }
}

// The key dialog. Resolves when closed.
const dialog = document.getElementById('key-dialog');
const keyInput = document.getElementById('api-key');
const keyError = document.getElementById('key-error');
export function askKey(message) {
  keyInput.value = getKey();
  keyError.hidden = !message;
  keyError.textContent = message || '';
  if (!dialog.open) dialog.showModal();
  keyInput.focus();
}
document.getElementById('key-form').addEventListener('submit', () => {
  const k = keyInput.value.trim();
  if (k) {
    setKey(k);
    updateKeyButton();
    route();
  }
});
document.getElementById('key-cancel').addEventListener('click', () => dialog.close());
document.getElementById('key-forget').addEventListener('click', () => {
  setKey('');
  updateKeyButton();
  dialog.close();
  route();
});
document.getElementById('key-button').addEventListener('click', () => askKey());
function updateKeyButton() {
  const b = document.getElementById('key-button');
  b.textContent = getKey() ? 'API key ✓' : 'Set API key';
  b.setAttribute('aria-label', getKey() ? 'API key set; change it' : 'Set the API key');
}
let lastUnauthorized = 0;
onUnauthorized((e) => {
  // Several requests may fail at once; ask once.
  if (Date.now() - lastUnauthorized < 1000 || dialog.open) return;
  lastUnauthorized = Date.now();
  askKey(getKey() ? 'inlet refused the key: ' + e.message : 'inlet needs an API key: ' + e.message);
});

window.addEventListener('hashchange', () => {
  route();
  focusHeading();
});
updateKeyButton();
if (!location.hash) history.replaceState(null, '', '#/pipeline');
route();
if (!getKey()) askKey();
