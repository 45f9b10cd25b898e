// facet dashboard: a page per hash route (#/collections, #/enrol, #/identify, #/compare,
// #/live, #/server), all talking to the facetd that served this file, with the API key the
// user signed in with (kept in sessionStorage: it dies with the tab). No framework and no
// build step; every request goes through api(), which turns network failures and 401/403
// into the banner so the user always knows whether the server or the key is at fault.

const $ = (sel) => document.querySelector(sel);
const state = { key: sessionStorage.getItem('facet.key') || '', collections: [], live: null, server: null };

// ---- requests ------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

function banner(text, kind = 'error') {
  const b = $('#banner');
  if (!text) { b.hidden = true; b.textContent = ''; return; }
  b.textContent = text;
  b.className = kind === 'info' ? 'info' : '';
  b.hidden = false;
}

async function api(method, path, { json, body, type, raw } = {}) {
  const headers = { Authorization: `Bearer ${state.key}` };
  if (json !== undefined) { headers['Content-Type'] = 'application/json'; body = JSON.stringify(json); }
  else if (type) headers['Content-Type'] = type;
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (e) {
    banner('The server cannot be reached. Is facetd running? Retrying when you act again.');
    throw new ApiError(0, 'unreachable', 'the server cannot be reached');
  }
  if (res.status === 401) {
    banner('The server refused this API key. Sign in again with a valid key.');
    signOut(false);
    throw new ApiError(401, 'unauthorized', 'the key was refused');
  }
  if (raw && res.ok) { banner(''); return res; }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: metrics, files */ }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: String(res.status), message: text || res.statusText };
    if (res.status === 403) banner(`This key may not do that: ${err.message}`);
    else if (res.status >= 500) banner(`The server failed: ${err.message}`);
    throw new ApiError(res.status, err.code, err.message);
  }
  banner('');
  return data !== null ? data : text;
}

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}

const enc = encodeURIComponent;
const fmt = (v, d = 3) => (typeof v === 'number' && isFinite(v) ? v.toFixed(d) : '–');

// Thumbnails need the key, so they are fetched as blobs rather than linked.
async function chipURL(collection, uuid) {
  try {
    const res = await api('GET', `/v1/collections/${enc(collection)}/faces/${enc(uuid)}/chip`, { raw: true });
    return URL.createObjectURL(await res.blob());
  } catch { return null; }
}

// ---- sign in and routing --------------------------------------------------------------------

function signOut(clearBanner = true) {
  state.key = '';
  sessionStorage.removeItem('facet.key');
  stopLive();
  if (clearBanner) banner('');
  location.hash = '#/signin';
  route();
}

async function signIn(key) {
  state.key = key;
  try {
    await api('GET', '/v1/collections');
  } catch (e) {
    if (e.status !== 403) { state.key = ''; if (e.status !== 401 && e.status !== 0) banner(e.message); return; }
  }
  sessionStorage.setItem('facet.key', key);
  location.hash = '#/collections';
}

const pages = ['signin', 'collections', 'enrol', 'identify', 'compare', 'live', 'server'];

async function route() {
  let page = (location.hash.replace(/^#\//, '') || 'collections').split('/')[0];
  if (!pages.includes(page)) page = 'collections';
  if (!state.key) page = 'signin';
  for (const p of pages) $(`#page-${p}`).hidden = p !== page;
  $('#nav').hidden = !state.key;
  for (const a of document.querySelectorAll('#nav a'))
    if (a.getAttribute('href') === `#/${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  if (page !== 'live') stopLive();
  if (page !== 'server') stopServer();
  document.title = `facet · ${page}`;
  const h = $(`#page-${page} h1`);
  if (h) { h.tabIndex = -1; }
  try {
    if (page === 'signin') $('#key').focus();
    else if (page === 'collections') await showCollections();
    else if (page === 'enrol' || page === 'identify') await loadCollections();
    else if (page === 'live') { await loadCollections(); startLive(); }
    else if (page === 'server') startServer();
  } catch (e) { if (!(e instanceof ApiError)) banner(String(e)); }
}

// ---- collections ----------------------------------------------------------------------------

async function loadCollections() {
  const data = await api('GET', '/v1/collections');
  state.collections = data.collections || [];
  for (const sel of document.querySelectorAll('.collection-select')) {
    const keep = sel.value;
    sel.replaceChildren(...state.collections.map((c) => el('option', { value: c.name }, c.name)));
    if (keep && state.collections.some((c) => c.name === keep)) sel.value = keep;
  }
  return state.collections;
}

async function showCollections() {
  const cols = await loadCollections();
  const tbody = $('#collections-table tbody');
  tbody.replaceChildren(...cols.map((c) => el('tr', {},
    el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => showIdentities(c.name) }, c.name)),
    el('td', { class: 'num' }, c.faceprints),
    el('td', {}, c.keep_payload ? 'yes' : 'no'),
    el('td', {}, el('button', { type: 'button', class: 'danger', 'aria-label': `Drop collection ${c.name}`,
      onclick: async () => {
        if (!confirm(`Drop collection "${c.name}" and its ${c.faceprints} faceprints?`)) return;
        try { await api('DELETE', `/v1/collections/${enc(c.name)}`); } catch (e) { banner(e.message); }
        $('#identities').hidden = true;
        showCollections();
      } }, 'Drop')))));
  if (!cols.length) tbody.append(el('tr', {}, el('td', { colspan: 4 }, 'No collections yet: create one above.')));
}

async function showIdentities(name) {
  const box = $('#identities');
  box.hidden = false;
  $('#identities-title').textContent = `Identities in ${name}`;
  const list = $('#identities-list');
  list.replaceChildren(el('li', {}, 'Loading…'));
  const [ids, faces] = await Promise.all([
    api('GET', `/v1/collections/${enc(name)}/identities`),
    api('GET', `/v1/collections/${enc(name)}/faces?limit=1000`),
  ]);
  const byId = new Map();
  for (const f of faces.faces) {
    if (!byId.has(f.identity)) byId.set(f.identity, []);
    byId.get(f.identity).push(f.uuid);
  }
  const keep = (state.collections.find((c) => c.name === name) || {}).keep_payload;
  list.replaceChildren(...ids.identities.map((it) => {
    const thumbs = el('div', { class: 'thumbs' });
    for (const uuid of (byId.get(it.identity) || []).slice(0, 6)) {
      const fig = el('span', { class: 'thumb-wrap' });
      if (keep) chipURL(name, uuid).then((u) => { if (u) fig.prepend(el('img', { src: u, alt: `${it.identity}, face ${uuid.slice(0, 8)}` })); });
      fig.append(el('button', { type: 'button', class: 'link', 'aria-label': `Remove face ${uuid} of ${it.identity}`,
        onclick: async () => {
          try { await api('DELETE', `/v1/collections/${enc(name)}/faces/${enc(uuid)}`); } catch (e) { banner(e.message); }
          showIdentities(name);
        } }, '✕'));
      thumbs.append(fig);
    }
    return el('li', { 'data-identity': it.identity },
      el('strong', {}, it.identity), el('span', {}, `${it.faceprints} faceprint${it.faceprints === 1 ? '' : 's'}`),
      thumbs,
      el('button', { type: 'button', class: 'danger', onclick: async () => {
        if (!confirm(`Remove every faceprint of "${it.identity}"?`)) return;
        try { await api('DELETE', `/v1/collections/${enc(name)}/identities/${enc(it.identity)}`); } catch (e) { banner(e.message); }
        showIdentities(name);
      } }, 'Remove identity'));
  }));
  if (!ids.identities.length) list.replaceChildren(el('li', {}, 'Nobody enrolled yet.'));
  $('#identity-names').replaceChildren(...ids.identities.map((it) => el('option', { value: it.identity })));
}

// ---- enrol ----------------------------------------------------------------------------------

function verdicts(q) {
  if (!q) return '';
  const parts = [`sharpness ${q.blur}`, `exposure ${q.exposure}`, `face ${Math.round(q.face_height)} px`];
  if (q.pose) parts.push(`yaw ${Math.round(q.pose.yaw)}°, pitch ${Math.round(q.pose.pitch)}°`);
  if (q.liveness) parts.push(q.liveness.live ? 'live' : 'possible spoof');
  return parts.join(' · ');
}

async function enrolFiles(ev) {
  ev.preventDefault();
  const coll = $('#enrol-collection').value, identity = $('#enrol-identity').value.trim();
  const files = [...$('#enrol-files').files], strict = $('#enrol-strict').checked;
  if (!coll || !identity || !files.length) return;
  const bar = $('#enrol-progress'), out = $('#enrol-results');
  bar.hidden = false; bar.max = files.length; bar.value = 0;
  out.replaceChildren();
  const button = ev.submitter || $('#enrol-form button');
  button.disabled = true;
  let ok = 0;
  for (const f of files) {
    const li = el('li', {}, el('strong', {}, f.name), ' ');
    out.append(li);
    const type = f.type || (f.name.toLowerCase().endsWith('.png') ? 'image/png' : 'image/jpeg');
    let quality = null;
    try {
      const d = await api('POST', '/v1/detect?quality=true', { body: f, type });
      const big = (d.faces || []).sort((a, b) => b.box[2] * b.box[3] - a.box[2] * a.box[3])[0];
      quality = big ? big.quality : null;
    } catch { /* the enrolment below says what is wrong */ }
    try {
      const r = await api('POST', `/v1/collections/${enc(coll)}/faces?identity=${enc(identity)}&strict=${strict}`,
        { body: f, type });
      li.className = 'ok';
      li.append(`enrolled as ${r.identity}`, el('div', { class: 'verdicts' }, verdicts(quality)));
      ok++;
    } catch (e) {
      li.className = 'bad';
      li.append(`refused: ${e.message}`, el('div', { class: 'verdicts' }, verdicts(quality)));
    }
    bar.value += 1;
  }
  button.disabled = false;
  out.prepend(el('li', { class: ok === files.length ? 'ok' : 'bad', id: 'enrol-summary' },
    `${ok} of ${files.length} photos enrolled into ${coll} as ${identity}`));
  await loadCollections();
}

// ---- identify and compare -------------------------------------------------------------------

function loadImage(file) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`${file.name} is not an image this browser can show`));
    img.src = URL.createObjectURL(file);
  });
}

async function identify(ev) {
  ev.preventDefault();
  const coll = $('#identify-collection').value, file = $('#identify-file').files[0];
  if (!coll || !file) return;
  $('#identify-summary').textContent = 'Identifying…';
  const list = $('#identify-list');
  list.replaceChildren();
  let r;
  try {
    r = await api('POST', `/v1/collections/${enc(coll)}/identify?top_k=3`,
      { body: file, type: file.type || 'image/jpeg' });
  } catch (e) {
    $('#identify-summary').textContent = e.status === 422 ? 'No face found in this photo.' : `Failed: ${e.message}`;
    $('#identify-canvas').hidden = true;
    return;
  }
  const img = await loadImage(file);
  const cv = $('#identify-canvas');
  cv.width = img.naturalWidth; cv.height = img.naturalHeight; cv.hidden = false;
  const g = cv.getContext('2d');
  g.drawImage(img, 0, 0);
  const lw = Math.max(2, Math.round(cv.width / 300));
  g.lineWidth = lw;
  g.font = `${Math.max(14, Math.round(cv.width / 45))}px system-ui, sans-serif`;
  let named = 0;
  const names = [];
  for (const f of r.faces) {
    const [x, y, w, h] = f.box;
    const best = f.candidates && f.candidates[0];
    const label = best ? `${best.identity} ${fmt(best.similarity, 2)}` : 'unknown';
    if (best) { named++; names.push(best.identity); }
    g.strokeStyle = best ? '#1c7c3a' : '#b3261e';
    g.strokeRect(x, y, w, h);
    const tw = g.measureText(label).width + 8, th = parseInt(g.font, 10) + 6;
    g.fillStyle = best ? '#1c7c3a' : '#b3261e';
    g.fillRect(x - lw / 2, Math.max(0, y - th), tw, th);
    g.fillStyle = '#fff';
    g.fillText(label, x + 4, Math.max(th - 6, y - 6));
    list.append(el('li', { class: best ? 'ok' : 'bad' },
      best ? `${best.identity}: similarity ${fmt(best.similarity)}, probability ${fmt(best.probability)}` : 'unknown face',
      ` (box ${f.box.map((v) => Math.round(v)).join(', ')})`));
  }
  $('#identify-summary').textContent =
    `${r.faces.length} face${r.faces.length === 1 ? '' : 's'}, ${named} named${names.length ? ': ' + names.join(', ') : ''}`;
}

async function compare(ev) {
  ev.preventDefault();
  const a = $('#compare-a').files[0], b = $('#compare-b').files[0];
  if (!a || !b) return;
  const fd = new FormData();
  fd.append('image_a', a, a.name);
  fd.append('image_b', b, b.name);
  $('#compare-result').textContent = 'Comparing…';
  try {
    const r = await api('POST', '/v1/compare', { body: fd });
    $('#compare-result').textContent =
      `${r.match ? 'Same person' : 'Different people'}: similarity ${fmt(r.similarity)}, ` +
      `match probability ${fmt(r.probability)} (threshold ${fmt(r.threshold)})`;
  } catch (e) {
    $('#compare-result').textContent = `Failed: ${e.message}`;
  }
}

function preview(input, img) {
  input.addEventListener('change', () => {
    const f = input.files[0];
    img.hidden = !f;
    if (f) img.src = URL.createObjectURL(f);
  });
}

// ---- live -----------------------------------------------------------------------------------

// EventSource cannot send an Authorization header, so the stream is read with fetch and parsed
// as server-sent events here; it reconnects from the last seen id after a failure.
function startLive() {
  if (state.live) return;
  const live = { abort: new AbortController(), last: 0, stop: false };
  state.live = live;
  refreshFeeds();
  refreshStrangers();
  (async () => {
    while (!live.stop) {
      try {
        const res = await fetch(`/v1/events?since=${live.last}`, {
          headers: { Authorization: `Bearer ${state.key}`, Accept: 'text/event-stream' },
          signal: live.abort.signal,
        });
        if (res.status === 401) { banner('The server refused this API key. Sign in again.'); signOut(false); return; }
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        $('#live-status').textContent = 'Connected: events appear as the feeds post them.';
        banner('');
        const reader = res.body.getReader(), dec = new TextDecoder();
        let buf = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let data = '', id = null;
            for (const line of frame.split('\n')) {
              if (line.startsWith('data: ')) data += line.slice(6);
              else if (line.startsWith('id: ')) id = Number(line.slice(4));
            }
            if (id !== null) live.last = id;
            if (data) onEvent(JSON.parse(data));
          }
        }
      } catch (e) {
        if (live.stop) return;
        $('#live-status').textContent = 'Disconnected from the server; reconnecting…';
        banner('The live event stream was interrupted; reconnecting.');
      }
      if (!live.stop) await new Promise((r) => setTimeout(r, 2000));
    }
  })();
}

function stopLive() {
  if (!state.live) return;
  state.live.stop = true;
  state.live.abort.abort();
  state.live = null;
}

function chipImg(e, alt) {
  return e.chip_jpeg ? el('img', { src: `data:image/jpeg;base64,${e.chip_jpeg}`, alt }) : null;
}

function onEvent(e) {
  if (e.event === 'metrics') { refreshFeeds(); return; }
  if (e.event === 'stranger' && e.chip_jpeg) refreshStrangers();
  const list = $('#events');
  const what = e.event === 'recognized' ? `${e.identity} (similarity ${fmt(e.similarity)}, ${e.attempts} attempt${e.attempts === 1 ? '' : 's'})`
    : e.event === 'identity_changed' ? `${e.previous} → ${e.identity}`
    : e.event === 'stranger' ? 'not in the collection'
    : e.event === 'track_ended' ? `after ${fmt(e.duration, 1)} s` : '';
  list.prepend(el('li', { 'data-event': e.event },
    chipImg(e, `face of track ${e.track}`),
    el('span', { class: 'kind' }, e.event.replace('_', ' ')),
    el('span', {}, `${e.feed} #${e.track} ${what}`),
    el('time', { datetime: new Date((e.wall_t ? e.wall_t * 1000 : e.received_ms)).toISOString() },
      new Date((e.wall_t ? e.wall_t * 1000 : e.received_ms)).toLocaleTimeString())));
  while (list.children.length > 100) list.lastChild.remove();
}

async function refreshFeeds() {
  try {
    const d = await api('GET', '/v1/feeds');
    const tbody = $('#feeds-table tbody');
    tbody.replaceChildren(...d.feeds.map((f) => el('tr', {},
      el('td', {}, f.feed), el('td', { class: 'num' }, fmt(f.fps, 1)), el('td', { class: 'num' }, fmt(f.dps, 1)),
      el('td', { class: 'num' }, f.dropped ?? '–'), el('td', { class: 'num' }, fmt(f.latency_ms, 1)),
      el('td', { class: 'num' }, f.tracks ?? '–'))));
    if (!d.feeds.length) tbody.append(el('tr', {}, el('td', { colspan: 6 }, 'No feed has reported yet (run facet watch with --webhook).')));
  } catch { /* the banner says it */ }
}

async function refreshStrangers() {
  let d;
  try { d = await api('GET', '/v1/strangers'); } catch { return; }
  const ul = $('#strangers');
  ul.replaceChildren(...d.strangers.slice().reverse().map((s) => {
    const input = el('input', { 'aria-label': `Name for stranger ${s.id}`, list: 'identity-names', placeholder: 'name', required: true });
    const form = el('form', { class: 'row', onsubmit: async (ev) => {
      ev.preventDefault();
      const coll = $('#review-collection').value;
      if (!coll) { banner('Create a collection first.'); return; }
      try {
        await api('POST', `/v1/strangers/${s.id}/enrol`, { json: { collection: coll, identity: input.value.trim() } });
        banner(`Enrolled ${input.value.trim()} into ${coll}.`, 'info');
      } catch (e) { banner(e.message); }
      refreshStrangers();
    } }, input, el('button', { type: 'submit' }, 'Enrol'),
      el('button', { type: 'button', class: 'secondary', onclick: async () => {
        try { await api('DELETE', `/v1/strangers/${s.id}`); } catch (e) { banner(e.message); }
        refreshStrangers();
      } }, 'Dismiss'));
    return el('li', { 'data-stranger': s.id }, chipImg(s, `stranger ${s.id}`),
      el('span', {}, `${s.feed} #${s.track}`), form);
  }));
  if (!d.strangers.length) ul.append(el('li', {}, 'No stranger waiting.'));
}

// ---- server at a glance ---------------------------------------------------------------------

function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)$/);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const p of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// The latency quantile from a cumulative histogram (linear inside the bucket), in ms.
function quantile(buckets, q) {
  const b = buckets.filter((x) => isFinite(x.le)).sort((x, y) => x.le - y.le);
  const total = buckets.find((x) => !isFinite(x.le))?.count ?? 0;
  if (!total) return NaN;
  let prevLe = 0, prevC = 0;
  for (const x of b) {
    if (x.count >= q * total) return 1000 * (prevLe + (x.le - prevLe) * (q * total - prevC) / Math.max(1, x.count - prevC));
    prevLe = x.le; prevC = x.count;
  }
  return 1000 * prevLe;
}

async function serverTick() {
  const s = state.server;
  if (!s) return;
  let text;
  try { text = await api('GET', '/metrics'); } catch { return; }
  const now = performance.now() / 1000, ms = parseMetrics(text);
  const routes = new Map();
  let inFlight = 0, rss = 0, storeErr = 0, rejected = 0;
  const sizes = [];
  for (const m of ms) {
    const r = m.labels.route;
    if (r && !routes.has(r)) routes.set(r, { requests: 0, errors: 0, buckets: [] });
    if (m.name === 'facetd_requests_total' && r) routes.get(r).requests += m.value;
    else if (m.name === 'facetd_errors_total' && r) routes.get(r).errors += m.value;
    else if (m.name === 'facetd_request_duration_seconds_bucket' && r)
      routes.get(r).buckets.push({ le: m.labels.le === '+Inf' ? Infinity : Number(m.labels.le), count: m.value });
    else if (m.name === 'facetd_requests_in_flight') inFlight = m.value;
    else if (m.name === 'process_resident_memory_bytes') rss = m.value;
    else if (m.name === 'facetd_store_errors_total') storeErr = m.value;
    else if (m.name === 'facetd_rejected_total') rejected += m.value;
    else if (m.name === 'facetd_faceprints') sizes.push([m.labels.collection, m.value]);
  }
  let total = 0, errors = 0, rate = 0;
  const rows = [];
  for (const [r, v] of routes) {
    const prev = s.prev.get(r);
    const rps = prev && now > s.prevT ? (v.requests - prev) / (now - s.prevT) : NaN;
    total += v.requests; errors += v.errors;
    if (isFinite(rps)) rate += rps;
    if (v.requests) rows.push(el('tr', {}, el('td', {}, r), el('td', { class: 'num' }, fmt(rps, 1)),
      el('td', { class: 'num' }, fmt(quantile(v.buckets, 0.5), 1)), el('td', { class: 'num' }, fmt(quantile(v.buckets, 0.99), 1)),
      el('td', { class: 'num' }, v.errors)));
    s.prev.set(r, v.requests);
  }
  s.prevT = now;
  const stat = (k, v) => el('div', {}, el('dt', {}, k), el('dd', {}, v));
  $('#server-stats').replaceChildren(
    stat('Requests/s', fmt(rate, 1)), stat('Requests', total), stat('Errors (4xx/5xx)', errors),
    stat('In flight', inFlight), stat('Refused by limits', rejected), stat('Store errors', storeErr),
    stat('Memory (RSS)', `${(rss / 1048576).toFixed(0)} MiB`));
  $('#routes-table tbody').replaceChildren(...rows);
  $('#sizes-table tbody').replaceChildren(...sizes.map(([c, n]) => el('tr', {}, el('td', {}, c), el('td', { class: 'num' }, n))));
}

function startServer() {
  if (state.server) return;
  state.server = { prev: new Map(), prevT: 0, timer: null };
  serverTick();
  state.server.timer = setInterval(serverTick, 2000);
}

function stopServer() {
  if (!state.server) return;
  clearInterval(state.server.timer);
  state.server = null;
}

// ---- wiring ---------------------------------------------------------------------------------

window.addEventListener('hashchange', route);
window.addEventListener('DOMContentLoaded', () => {
  $('#signin-form').addEventListener('submit', (ev) => { ev.preventDefault(); signIn($('#key').value.trim()); });
  $('#signout').addEventListener('click', () => signOut());
  $('#create-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/v1/collections', { json: { name: $('#new-name').value.trim(), keep_payload: $('#new-keep').checked } });
      $('#new-name').value = '';
    } catch (e) { banner(e.message); }
    showCollections();
  });
  $('#enrol-form').addEventListener('submit', enrolFiles);
  $('#enrol-collection').addEventListener('change', () => showIdentitiesNames($('#enrol-collection').value));
  $('#identify-form').addEventListener('submit', identify);
  $('#compare-form').addEventListener('submit', compare);
  preview($('#compare-a'), $('#compare-a-img'));
  preview($('#compare-b'), $('#compare-b-img'));
  route();
});

async function showIdentitiesNames(coll) {
  if (!coll) return;
  try {
    const ids = await api('GET', `/v1/collections/${enc(coll)}/identities`);
    $('#identity-names').replaceChildren(...ids.identities.map((it) => el('option', { value: it.identity })));
  } catch { /* banner */ }
}
