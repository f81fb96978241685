// The sanstorrent web UI: talks to the daemon's Transmission RPC (JSON-RPC 2.0, snake_case)
// at ./transmission/rpc, polls every 1.5 s, and renders with plain DOM calls.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const POLL_MS = 1500;
const STATES = ['Stopped', 'Check queued', 'Checking', 'Queued', 'Downloading', 'Seed queued', 'Seeding'];
const LIST_FIELDS = ['id', 'name', 'status', 'error', 'error_string', 'percent_done', 'rate_download',
  'rate_upload', 'peers_connected', 'eta', 'upload_ratio', 'total_size', 'labels', 'queue_position',
  'added_date', 'recheck_progress', 'metadata_percent_complete', 'download_dir', 'choose_files'];
const DETAIL_FIELDS = ['id', 'name', 'files', 'file_stats', 'peers', 'tracker_stats', 'pieces',
  'piece_count', 'piece_size', 'hash_string', 'download_dir', 'comment', 'creator', 'date_created',
  'magnet_link', 'downloaded_ever', 'uploaded_ever', 'corrupt_ever', 'have_valid', 'is_private'];

const torrents = new Map(); // id -> torrent fields
const rows = new Map(); // id -> <tr>
const selected = new Set();
let session = {};
let sessionId = '';
let fullFetch = true;
let detailsId = null;
let detailsTab = 'files';
let addMetainfo = null; // base64 of the chosen .torrent

// ---- RPC ----------------------------------------------------------------------------------

/** Calls one method; resolves to its result, rejects with the daemon's error message. */
async function rpc(method, params = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch('transmission/rpc', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Transmission-Session-Id': sessionId },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
    });
    if (res.status === 409) { // CSRF handshake: take the session id and ask again.
      sessionId = res.headers.get('X-Transmission-Session-Id') || '';
      continue;
    }
    if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${(await res.text()).trim()}`);
    const reply = await res.json();
    if (reply.error) {
      const detail = reply.error.data && reply.error.data.error_string;
      throw new Error(detail ? `${reply.error.message}: ${detail}` : reply.error.message);
    }
    return reply.result;
  }
  throw new Error(`${method}: no session id from the daemon`);
}

/** Runs an action; shows its error in the banner; refreshes the list after. */
async function act(promise) {
  try {
    await promise;
    hideError();
  } catch (e) {
    showError(e.message);
  }
  fullFetch = true;
  refresh();
}

function showError(message) {
  $('#error-text').textContent = message;
  $('#error').hidden = false;
}

function hideError() { $('#error').hidden = true; }

// ---- Formatting ---------------------------------------------------------------------------

function size(bytes) {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
  return `${i ? bytes.toFixed(bytes < 10 ? 2 : 1) : bytes} ${units[i]}`;
}

const speed = bps => `${size(bps)}/s`;
const rate = bps => (bps > 0 ? speed(bps) : '–');

function eta(secs) {
  if (secs < 0) return '–';
  if (secs < 60) return `${secs} s`;
  if (secs < 3600) return `${Math.round(secs / 60)} min`;
  if (secs < 86400) return `${(secs / 3600).toFixed(1)} h`;
  return `${Math.round(secs / 86400)} d`;
}

const date = unix => (unix ? new Date(unix * 1000).toLocaleString() : '–');
const percent = x => `${(100 * x).toFixed(x < 1 ? 1 : 0)} %`;
const ratio = r => (r < 0 ? '–' : r.toFixed(2));

function stateOf(t) {
  if (t.error) return 'error';
  return ['stopped', 'checking', 'checking', 'queued', 'downloading', 'queued', 'seeding'][t.status];
}

function stateText(t) {
  if (t.error) return `Error: ${t.error_string}`;
  if (t.status === 2) return `Checking ${percent(t.recheck_progress)}`;
  if (t.status === 4 && t.metadata_percent_complete < 1) return 'Fetching metadata';
  if (t.choose_files && t.status === 4) return 'Waiting for a choice of files';
  return STATES[t.status] || '?';
}

/** Makes an element with attributes and children (strings become text). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (v !== false && v != null) node.setAttribute(k, v === true ? '' : v);
  }
  node.append(...children.filter(c => c != null));
  return node;
}

function bar(fraction, label) {
  const fill = el('span');
  fill.style.width = `${(100 * fraction).toFixed(1)}%`; // Through the DOM: CSP refuses style="".
  return el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100,
    'aria-valuenow': Math.round(100 * fraction), 'aria-label': label }, fill);
}

// ---- The list -----------------------------------------------------------------------------

const COLUMNS = [
  ['Name', t => el('button', { class: 'link', title: 'Details', onclick: () => openDetails(t.id) }, t.name)],
  ['Progress', t => el('span', { class: 'progress' }, bar(t.percent_done, `${t.name} progress`),
    el('small', {}, percent(t.percent_done)))],
  ['State', t => stateText(t)],
  ['Down', t => rate(t.rate_download)],
  ['Up', t => rate(t.rate_upload)],
  ['Peers', t => String(t.peers_connected)],
  ['ETA', t => eta(t.eta)],
  ['Ratio', t => ratio(t.upload_ratio)],
  ['Size', t => size(t.total_size)],
  ['Labels', t => t.labels.join(', ')],
];

function rowFor(id) {
  let tr = rows.get(id);
  if (tr) return tr;
  const box = el('input', { type: 'checkbox', 'aria-label': 'Select' });
  box.addEventListener('change', () => {
    if (box.checked) selected.add(id); else selected.delete(id);
    updateActions();
  });
  tr = el('tr', {}, el('td', {}, box), ...COLUMNS.map(([name]) => el('td', { 'data-label': name })));
  rows.set(id, tr);
  return tr;
}

function visible(t) {
  const text = $('#search').value.trim().toLowerCase();
  const state = $('#filter-state').value;
  const label = $('#filter-label').value;
  return (!text || t.name.toLowerCase().includes(text))
    && (!state || stateOf(t) === state)
    && (!label || t.labels.includes(label));
}

function render() {
  const key = $('#sort').value;
  const list = [...torrents.values()].filter(visible).sort((a, b) => {
    const x = a[key];
    const y = b[key];
    if (typeof x === 'string') return x.localeCompare(y);
    return key === 'name' || key === 'queue_position' ? x - y : y - x;
  });
  const body = $('#list tbody');
  list.forEach((t, i) => {
    const tr = rowFor(t.id);
    tr.className = stateOf(t);
    tr.dataset.name = t.name;
    const cells = tr.children;
    COLUMNS.forEach(([, make], c) => {
      const cell = cells[c + 1];
      const content = make(t);
      if (typeof content === 'string') {
        if (cell.textContent !== content) cell.textContent = content;
      } else if (c === 0) {
        if (!cell.firstChild || cell.firstChild.textContent !== t.name) cell.replaceChildren(content);
      } else {
        cell.replaceChildren(content);
      }
    });
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
  const shown = new Set(list.map(t => rows.get(t.id)));
  for (const tr of [...body.children]) if (!shown.has(tr)) tr.remove();
  for (const id of rows.keys()) if (!torrents.has(id)) rows.delete(id);
  $('#empty').hidden = torrents.size > 0;
  updateLabels();
  updateActions();
}

function updateLabels() {
  const select = $('#filter-label');
  const labels = [...new Set([...torrents.values()].flatMap(t => t.labels))].sort();
  const have = [...select.options].slice(1).map(o => o.value);
  if (have.join('\n') === labels.join('\n')) return;
  const current = select.value;
  select.replaceChildren(el('option', { value: '' }, 'All labels'),
    ...labels.map(l => el('option', { value: l }, l)));
  select.value = labels.includes(current) ? current : '';
}

function updateActions() {
  for (const id of [...selected]) if (!torrents.has(id)) selected.delete(id);
  for (const [id, tr] of rows) tr.firstChild.firstChild.checked = selected.has(id);
  for (const b of $('#actions').querySelectorAll('button')) b.disabled = selected.size === 0;
  $('#select-all').checked = selected.size > 0 && selected.size === torrents.size;
}

// ---- Polling ------------------------------------------------------------------------------

async function refresh() {
  try {
    const params = { fields: LIST_FIELDS };
    const full = fullFetch;
    if (!full) params.ids = 'recently_active';
    const [got, stats] = await Promise.all([rpc('torrent_get', params), rpc('session_stats')]);
    fullFetch = false;
    if (full) {
      const present = new Set(got.torrents.map(t => t.id));
      for (const id of torrents.keys()) if (!present.has(id)) torrents.delete(id);
    }
    for (const t of got.torrents) torrents.set(t.id, t);
    for (const id of got.removed || []) torrents.delete(id);
    render();
    showTotals(stats);
    if (detailsId != null) await refreshDetails();
  } catch (e) {
    showError(`Cannot reach the daemon: ${e.message}`);
  }
}

function showTotals(stats) {
  const n = stats.torrent_count;
  const limit = (on, kbps) => (on ? ` (at most ${speed(kbps * 1000)})` : '');
  const parts = [`↓ ${speed(stats.download_speed)}${limit(session.speed_limit_down_enabled, session.speed_limit_down)}`,
    `↑ ${speed(stats.upload_speed)}${limit(session.speed_limit_up_enabled, session.speed_limit_up)}`,
    `${n} torrent${n === 1 ? '' : 's'}`,
    `total ↓ ${size(stats.cumulative_stats.downloaded_bytes)} ↑ ${size(stats.cumulative_stats.uploaded_bytes)}`];
  if (session.free != null) parts.push(`${size(session.free)} free`);
  $('#totals').textContent = parts.join(' · ');
}

async function loadSession() {
  try {
    session = await rpc('session_get');
    const space = await rpc('free_space', { path: session.download_dir });
    session.free = space.size_bytes;
  } catch (e) {
    showError(e.message);
  }
}

// ---- Actions on the selection -------------------------------------------------------------

function onAction(name) {
  const ids = [...selected];
  if (!ids.length) return;
  const names = ids.map(id => torrents.get(id).name).join(', ');
  if (name.startsWith('torrent_')) return act(rpc(name, { ids }));
  if (name === 'remove' || name === 'remove-data') {
    const data = name === 'remove-data';
    $('#remove-title').textContent = `Remove ${names}${data ? ' and delete its data' : ''}?`;
    $('#remove-submit').textContent = data ? 'Remove and delete' : 'Remove';
    formDialog($('#remove'), '#remove-error',
      () => rpc('torrent_remove', { ids, delete_local_data: data }));
    $('#remove .cancel').focus();
    return;
  }
  if (name === 'move') openMove(ids, names);
  else if (name === 'limits') openLimits(ids, names);
  else if (name === 'labels') openLabels(ids, names);
}

/** Opens a form dialog: fills it, runs `save` on submit, shows its error in `errorSel`. */
function formDialog(dialog, errorSel, save) {
  $(errorSel).textContent = '';
  dialog.onsubmit = async e => {
    e.preventDefault();
    try {
      await save();
      dialog.close();
      fullFetch = true;
      refresh();
    } catch (err) {
      $(errorSel).textContent = err.message;
    }
  };
  dialog.showModal();
}

function openMove(ids, names) {
  $('#move-title').textContent = `Move ${names}`;
  $('#move-location').value = torrents.get(ids[0]).download_dir || session.download_dir || '';
  $('#move-data').checked = true;
  formDialog($('#move'), '#move-error', () => rpc('torrent_set_location',
    { ids, location: $('#move-location').value.trim(), move: $('#move-data').checked }));
}

async function openLimits(ids, names) {
  const fields = ['download_limit', 'download_limited', 'upload_limit', 'upload_limited',
    'honors_session_limits', 'peer_limit', 'seed_ratio_mode', 'seed_ratio_limit'];
  let t;
  try {
    [t] = (await rpc('torrent_get', { ids: [ids[0]], fields })).torrents;
  } catch (e) {
    showError(e.message);
    return;
  }
  const form = $('#limits-form');
  $('#limits-title').textContent = `Limits of ${names}`;
  for (const name of fields) {
    const input = form.elements[name];
    if (input.type === 'checkbox') input.checked = !!t[name]; else input.value = String(t[name] ?? '');
  }
  formDialog($('#limits'), '#limits-error', () => {
    const changes = {};
    for (const name of fields) {
      const input = form.elements[name];
      const v = input.type === 'checkbox' ? input.checked : Number(input.value); // Selects too.
      if (ids.length > 1 || v !== t[name]) changes[name] = v;
    }
    return Object.keys(changes).length ? rpc('torrent_set', { ids, ...changes }) : null;
  });
}

const splitList = text => text.split(',').map(s => s.trim()).filter(Boolean);

/** The labels dialog: the labels in use as toggles beside a text field (comma separated, for
 * new ones), kept in step both ways; saving sets them on every selected torrent. */
function openLabels(ids, names) {
  const input = $('#labels-input');
  const list = $('#labels-known ul');
  const known = [...new Set([...torrents.values()].flatMap(t => t.labels))].sort();
  input.value = torrents.get(ids[0]).labels.join(', ');
  const sync = () => {
    const chosen = splitList(input.value);
    for (const box of list.querySelectorAll('input')) box.checked = chosen.includes(box.value);
  };
  list.replaceChildren(...known.map(l => el('li', {}, el('label', { class: 'check' },
    el('input', { type: 'checkbox', value: l, onchange: e => {
      const chosen = splitList(input.value).filter(c => c !== l);
      if (e.target.checked) chosen.push(l);
      input.value = chosen.join(', ');
    } }), l))));
  $('#labels-known').hidden = !known.length;
  input.oninput = sync;
  sync();
  $('#labels-title').textContent = `Labels of ${names}`;
  formDialog($('#labels'), '#labels-error',
    () => rpc('torrent_set', { ids, labels: splitList(input.value) }));
  input.focus();
}

// ---- Adding -------------------------------------------------------------------------------

function openAdd() {
  $('#add-form').reset();
  addMetainfo = null;
  $('#add-file-name').textContent = '';
  $('#add-error').textContent = '';
  $('#add-files').hidden = true;
  $('#add-choose-label').hidden = false;
  $('#add-dir').value = session.download_dir || '';
  $('#add-paused').checked = session.start_added_torrents === false;
  if (!$('#add').open) $('#add').showModal();
}

/** Fills `list` with a checkbox per file ([path, length] pairs), all checked. */
function fileChecklist(list, files) {
  list.replaceChildren(...files.map(([name, length], i) => el('li', {},
    el('label', { class: 'check' }, el('input', { type: 'checkbox', checked: true, 'data-index': i }),
      ` ${name} (${size(length)})`))));
}

/** Indices of the files left unchecked in `list`. */
const unchecked = list => [...list.querySelectorAll('input:not(:checked)')].map(b => Number(b.dataset.index));

async function chooseFile(file) {
  if (!$('#add').open) openAdd();
  const bytes = new Uint8Array(await file.arrayBuffer());
  $('#add-file-name').textContent = file.name;
  $('#add-error').textContent = '';
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  addMetainfo = btoa(binary);
  try {
    fileChecklist($('#add-files ul'), torrentFiles(bdecode(bytes)));
    $('#add-files').hidden = false;
    $('#add-choose-label').hidden = true; // The files are listed here already.
  } catch (e) {
    $('#add-error').textContent = `Not a .torrent file: ${e.message}`;
    addMetainfo = null;
  }
}

async function submitAdd() {
  const paused = $('#add-paused').checked;
  const params = { download_dir: $('#add-dir').value.trim(), paused };
  const labels = splitList($('#add-labels').value);
  if (labels.length) params.labels = labels;
  const link = $('#add-link').value.trim();
  let choose = false;
  if (addMetainfo) {
    params.metainfo = addMetainfo;
    const unwanted = unchecked($('#add-files'));
    if (unwanted.length) params.files_unwanted = unwanted;
  } else if (link) {
    params.filename = link;
    choose = $('#add-choose').checked;
    // Its files wait for the choice: a magnet runs to fetch its metadata (a stopped torrent
    // asks no peer) but downloads nothing until the files are chosen.
    if (choose) {
      params.choose_files = true;
      if (/^magnet:/i.test(link)) params.paused = false;
    }
  } else {
    $('#add-error').textContent = 'Give a magnet link, a URL, or a .torrent file.';
    return;
  }
  try {
    const r = await rpc('torrent_add', params);
    $('#add').close();
    fullFetch = true;
    refresh();
    if (r.torrent_duplicate) showError(`Already there: ${r.torrent_duplicate.name}`);
    else if (choose) openChooser(r.torrent_added.id, !paused);
  } catch (e) {
    $('#add-error').textContent = e.message;
  }
}

const sleep = ms => new Promise(resolve => { setTimeout(resolve, ms); });

/** The file chooser of a torrent just added from a link with its files waiting for a choice:
 * lists its files as soon as its metadata is here, then sets the checked ones wanted (which
 * ends the wait: it downloads them) or, if it was to start paused, stops it first. */
async function openChooser(id, start) {
  const dialog = $('#choose');
  const list = $('#choose-files ul');
  $('#choose-name').textContent = 'Choose files';
  $('#choose-status').textContent = 'Waiting for the list of files (a magnet link asks peers for it)…';
  $('#choose-files').hidden = true;
  $('#choose-error').textContent = '';
  $('#choose-submit').disabled = true;
  $('#choose-submit').textContent = start ? 'Start' : 'Save';
  dialog.dataset.id = id;
  dialog.onsubmit = async e => {
    e.preventDefault();
    const unwanted = unchecked(list);
    const wanted = [...list.querySelectorAll('input:checked')].map(b => Number(b.dataset.index));
    try {
      const changes = {};
      if (unwanted.length) changes.files_unwanted = unwanted;
      if (wanted.length) changes.files_wanted = wanted;
      if (!start) await rpc('torrent_stop', { ids: [id] });
      await rpc('torrent_set', { ids: [id], ...changes });
      dialog.close();
    } catch (err) {
      $('#choose-error').textContent = err.message;
    }
    fullFetch = true;
    refresh();
  };
  dialog.showModal();
  const fields = ['name', 'status', 'files', 'metadata_percent_complete'];
  while (dialog.open && dialog.dataset.id === String(id)) {
    let t;
    try {
      [t] = (await rpc('torrent_get', { ids: [id], fields })).torrents;
    } catch (e) {
      $('#choose-error').textContent = e.message;
    }
    if (!t) {
      $('#choose-status').textContent = 'The torrent is gone.';
      return;
    }
    if (t.metadata_percent_complete >= 1 && t.files.length) {
      $('#choose-name').textContent = `Choose files of ${t.name}`;
      $('#choose-status').textContent = 'Nothing is downloaded until you choose.';
      fileChecklist(list, t.files.map(f => [f.name, f.length]));
      $('#choose-files').hidden = false;
      $('#choose-submit').disabled = false;
      fullFetch = true;
      return;
    }
    await sleep(250);
  }
}

/** Decodes bencode (strings stay bytes; dictionary keys become text). */
function bdecode(bytes) {
  let i = 0;
  const text = (a, b) => new TextDecoder().decode(bytes.subarray(a, b));
  const until = c => {
    const at = bytes.indexOf(c, i);
    if (at < 0) throw new Error('truncated');
    return at;
  };
  function next(depth) {
    if (i >= bytes.length || depth > 64) throw new Error('truncated');
    const c = bytes[i];
    if (c === 0x69) { // i<n>e
      const end = until(0x65);
      const n = Number(text(i + 1, end));
      i = end + 1;
      return n;
    }
    if (c === 0x6c || c === 0x64) { // l...e, d...e
      i++;
      const items = [];
      while (bytes[i] !== 0x65) items.push(next(depth + 1));
      i++;
      if (c === 0x6c) return items;
      const dict = {};
      for (let k = 0; k < items.length; k += 2) dict[new TextDecoder().decode(items[k])] = items[k + 1];
      return dict;
    }
    const colon = until(0x3a);
    const len = Number(text(i, colon));
    if (!Number.isInteger(len) || colon + 1 + len > bytes.length) throw new Error('bad string');
    i = colon + 1 + len;
    return bytes.subarray(colon + 1, i);
  }
  return next(0);
}

/** [path, length] of each file of a decoded .torrent, in the torrent's order. */
function torrentFiles(meta) {
  const info = meta.info;
  const str = b => new TextDecoder().decode(b);
  const name = str(info.name);
  if (!info.files) return [[name, info.length]];
  return info.files.map(f => [[name, ...f.path.map(str)].join('/'), f.length]);
}

// ---- Details ------------------------------------------------------------------------------

function openDetails(id) {
  detailsId = id;
  $('#details-name').textContent = torrents.get(id).name;
  $('#details-body').replaceChildren();
  $('#details').showModal();
  refreshDetails();
}

async function refreshDetails() {
  const id = detailsId;
  let t;
  try {
    [t] = (await rpc('torrent_get', { ids: [id], fields: DETAIL_FIELDS })).torrents;
  } catch (e) {
    showError(e.message);
    return;
  }
  if (!t || id !== detailsId) return;
  drawPieces(t.pieces, t.piece_count);
  const body = $('#details-body');
  if (detailsTab === 'files') {
    const tree = body.firstChild;
    // The tree is kept while its torrent and files stay: what is open, focused or picked stays.
    if (tree && tree.dataset.files === `${t.id}:${t.files.length}`) updateFiles(tree, t);
    else body.replaceChildren(filesView(t));
    return;
  }
  const view = { peers: peersView, trackers: trackersView, info: infoView }[detailsTab](t);
  body.replaceChildren(view);
}

/** Draws which pieces we have, at most one column per pixel: a column's shade is the share
 * of its pieces we have. */
function drawPieces(base64, count) {
  const canvas = $('#pieces');
  canvas.hidden = !base64 || !count; // No metadata yet.
  if (canvas.hidden) return;
  const bits = atob(base64);
  const columns = Math.max(1, Math.min(count, canvas.clientWidth || 600));
  canvas.width = columns;
  const have = new Array(columns).fill(0);
  let total = 0;
  for (let p = 0; p < count; p++) {
    if (bits.charCodeAt(p >> 3) & (0x80 >> (p & 7))) {
      have[Math.floor((p * columns) / count)]++;
      total++;
    }
  }
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, columns, 1);
  ctx.fillStyle = getComputedStyle(canvas).color;
  for (let c = 0; c < columns; c++) {
    const start = Math.ceil((c * count) / columns);
    const end = Math.ceil(((c + 1) * count) / columns);
    if (!have[c] || end <= start) continue;
    ctx.globalAlpha = have[c] / (end - start);
    ctx.fillRect(c, 0, 1, 1);
  }
  ctx.globalAlpha = 1;
  canvas.setAttribute('aria-label', `Pieces: ${total} of ${count}`);
}

function filesView(t) {
  const root = { dirs: new Map(), files: [], path: '' };
  t.files.forEach((f, i) => {
    const parts = f.name.split('/');
    let node = root;
    for (const dir of parts.slice(0, -1)) {
      if (!node.dirs.has(dir)) node.dirs.set(dir, { dirs: new Map(), files: [], path: `${node.path}${dir}/` });
      node = node.dirs.get(dir);
    }
    node.files.push({ ...f, ...t.file_stats[i], index: i, leaf: parts[parts.length - 1] });
  });
  const indices = node => [...node.files.map(f => f.index), ...[...node.dirs.values()].flatMap(indices)];
  const setWanted = (ids, wanted) =>
    act(rpc('torrent_set', { ids: [t.id], [wanted ? 'files_wanted' : 'files_unwanted']: ids }));
  function tree(node) {
    const list = el('ul', { class: 'tree' });
    for (const [name, dir] of node.dirs) {
      const all = indices(dir);
      list.append(el('li', {}, el('details', { open: true }, el('summary', {},
        el('input', { type: 'checkbox', 'aria-label': `Download ${dir.path}`, 'data-files': all.join(','),
          onchange: e => setWanted(all, e.target.checked) }), ` ${name}/`), tree(dir))));
    }
    for (const f of node.files) {
      // The daemon serves each file at stream/<hash>/<index> while it downloads (byte ranges,
      // so a player can seek); same origin, so the browser sends the page's credentials.
      const stream = el('a', { class: 'stream', href: `stream/${t.hash_string}/${f.index}`,
        target: '_blank', rel: 'noopener', title: `Stream ${f.name}`, 'aria-label': `Stream ${f.name}` }, 'stream');
      list.append(el('li', { class: 'file', 'data-index': f.index },
        el('span', { class: 'name' }, el('label', { class: 'check' }, el('input', { type: 'checkbox', 'data-key': 'wanted',
          'aria-label': `Download ${f.name}`, onchange: e => setWanted([f.index], e.target.checked) }), ` ${f.leaf}`),
        ' ', stream),
        el('span', { class: 'progress' }, bar(0, `${f.leaf} progress`), el('small', {})),
        el('span', {}, size(f.length)),
        prioritySelect(t.id, f)));
    }
    return list;
  }
  const view = tree(root);
  view.dataset.files = `${t.id}:${t.files.length}`;
  updateFiles(view, t);
  return view;
}

/** Shows each file's wanted flag, priority and progress in the tree made by `filesView`. */
function updateFiles(view, t) {
  for (const li of view.querySelectorAll('li.file')) {
    const i = Number(li.dataset.index);
    const f = t.files[i];
    const stats = t.file_stats[i];
    const done = f.length ? f.bytes_completed / f.length : 1;
    $('[data-key=wanted]', li).checked = stats.wanted;
    const select = $('select', li);
    if (document.activeElement !== select) select.value = PRIORITIES[stats.priority];
    const fill = $('.bar', li);
    fill.setAttribute('aria-valuenow', Math.round(100 * done));
    fill.firstChild.style.width = `${(100 * done).toFixed(1)}%`;
    $('small', li).textContent = percent(done);
  }
  for (const box of view.querySelectorAll('input[data-files]')) {
    const all = box.dataset.files.split(',').map(Number);
    const wanted = all.filter(i => t.file_stats[i].wanted).length;
    box.checked = wanted === all.length;
    box.indeterminate = wanted > 0 && wanted < all.length;
  }
}

const PRIORITIES = { 1: 'high', 0: 'normal', '-1': 'low' };

function prioritySelect(id, f) {
  return el('select', { 'aria-label': `Priority of ${f.name}`,
    onchange: e => act(rpc('torrent_set', { ids: [id], [`priority_${e.target.value}`]: [f.index] })) },
  ...['high', 'normal', 'low'].map(p => el('option', { value: p }, p)));
}

function table(headings, rowsData) {
  if (!rowsData.length) return el('p', {}, 'None.');
  return el('table', { class: 'sub' }, el('thead', {}, el('tr', {}, ...headings.map(h => el('th', {}, h)))),
    el('tbody', {}, ...rowsData.map(r => el('tr', {}, ...r.map((c, i) => el('td', { 'data-label': headings[i] }, c))))));
}

const peersView = t => table(['Address', 'Client', 'Down', 'Up', 'Has', 'Flags'],
  t.peers.map(p => [`${p.address}:${p.port}`, p.client_name, rate(p.rate_to_client), rate(p.rate_to_peer),
    percent(p.progress), p.flag_str]));

const count = n => (n < 0 ? '?' : String(n));
const trackersView = t => table(['Tier', 'Announce', 'Status', 'Last announce', 'Seeds', 'Leechers'],
  t.tracker_stats.map(s => [String(s.tier), s.announce, s.last_announce_result || '–',
    date(s.last_announce_time), count(s.seeder_count), count(s.leecher_count)]));

function infoView(t) {
  const facts = [['Hash', t.hash_string], ['Directory', t.download_dir], ['Have', size(t.have_valid)],
    ['Downloaded', size(t.downloaded_ever)], ['Uploaded', size(t.uploaded_ever)],
    ['Corrupt', size(t.corrupt_ever)], ['Pieces', `${t.piece_count} × ${size(t.piece_size)}`],
    ['Private', t.is_private ? 'yes' : 'no'], ['Created', date(t.date_created)],
    ['Creator', t.creator], ['Comment', t.comment], ['Magnet', t.magnet_link]];
  return el('dl', {}, ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v || '–')]));
}

// ---- Settings -----------------------------------------------------------------------------

async function openSettings() {
  await loadSession();
  const form = $('#settings-form');
  for (const input of form.querySelectorAll('input[name]')) {
    const v = session[input.name];
    if (input.type === 'checkbox') input.checked = !!v; else input.value = v ?? '';
  }
  $('#free-space').textContent = session.free != null ? `${size(session.free)} free there` : '';
  $('#version').textContent = `Daemon: ${session.version}`;
  $('#settings-error').textContent = '';
  $('#settings').showModal();
}

async function saveSettings() {
  const changes = {};
  for (const input of $('#settings-form').querySelectorAll('input[name]')) {
    const v = input.type === 'checkbox' ? input.checked
      : input.type === 'number' ? Number(input.value) : input.value.trim();
    if (v !== session[input.name]) changes[input.name] = v;
  }
  try {
    if (Object.keys(changes).length) await rpc('session_set', changes);
    $('#settings').close();
    await loadSession();
  } catch (e) {
    $('#settings-error').textContent = e.message;
  }
}

// ---- Wiring -------------------------------------------------------------------------------

function init() {
  $('#open-add').addEventListener('click', openAdd);
  $('#open-settings').addEventListener('click', openSettings);
  $('#error-close').addEventListener('click', hideError);
  for (const id of ['#search', '#filter-state', '#filter-label', '#sort']) {
    $(id).addEventListener('input', render);
  }
  $('#actions').addEventListener('click', e => { if (e.target.dataset.act) onAction(e.target.dataset.act); });
  $('#select-all').addEventListener('change', e => {
    selected.clear();
    if (e.target.checked) for (const id of torrents.keys()) selected.add(id);
    updateActions();
  });
  $('#choose-all').addEventListener('click', () => {
    for (const b of $('#choose-files').querySelectorAll('input')) b.checked = true;
  });
  $('#choose-none').addEventListener('click', () => {
    for (const b of $('#choose-files').querySelectorAll('input')) b.checked = false;
  });
  $('#choose').addEventListener('close', () => { delete $('#choose').dataset.id; });
  // Cancel closes; Enter in a field submits (the form's first button is its own).
  for (const b of document.querySelectorAll('button.cancel')) {
    b.addEventListener('click', () => b.closest('dialog').close());
  }
  $('#add-form').addEventListener('submit', e => { e.preventDefault(); submitAdd(); });
  $('#add-file').addEventListener('change', e => { if (e.target.files[0]) chooseFile(e.target.files[0]); });
  $('#settings-form').addEventListener('submit', e => { e.preventDefault(); saveSettings(); });
  $('#details-close').addEventListener('click', () => $('#details').close());
  $('#details').addEventListener('close', () => { detailsId = null; });
  const tabs = [...document.querySelectorAll('[role=tab]')];
  for (const tab of tabs) {
    tab.addEventListener('click', () => {
      detailsTab = tab.dataset.tab;
      for (const t of tabs) t.setAttribute('aria-selected', t === tab);
      $('#details-body').replaceChildren();
      refreshDetails();
    });
    tab.addEventListener('keydown', e => { // Arrows move between the tabs.
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (!step) return;
      const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
  }
  document.addEventListener('dragover', e => { e.preventDefault(); document.body.classList.add('dragging'); });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', e => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) chooseFile(file);
  });
  document.addEventListener('keydown', e => {
    if (e.target.closest('input, select, textarea, dialog') || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') { e.preventDefault(); $('#search').focus(); }
    if (e.key === 'a') openAdd();
    if (e.key === 's') openSettings();
    if (e.key === 'Delete' && selected.size) onAction('remove');
  });
  updateActions();
  loadSession().then(refresh);
  let polls = 0;
  setInterval(() => {
    if (document.hidden) return;
    // The session (limits, free space) changes rarely, or from other front ends.
    if (++polls % 10 === 0) loadSession().then(refresh); else refresh();
  }, POLL_MS);
}

init();
