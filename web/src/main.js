// steward's dashboard: the host table, host detail with actions, alarms and events, kept current
// by the live stream. Consistency: subscribe first, and once the stream says `hello`, read the
// current state and apply every item that arrived after `hello` over it, in order (each `host`
// item carries the whole record, so the last one per host is where it stands).

import './style.css';
import { api, ApiError, requestAction, setToken, token, whenUnauthorized } from './api.js';
import { follow } from './stream.js';

const state = {
  hosts: new Map(),
  alarms: new Map(),
  events: [],
  /** Items that came before the snapshot they must be applied over. */
  queue: [],
  ready: false,
  /** Hostnames changed since the last render (the table flashes them). */
  changed: new Set(),
};
const MAX_EVENTS = 2000;
// The entity tells a host's alarms of one id apart (sensor alarms name their sensor or group).
const alarmKey = (a) => `${a.alarm_id}|${a.entity_instance_id}`;

// ---- small DOM helpers -------------------------------------------------------------------------

const $ = (sel) => document.querySelector(sel);
const esc = (v) =>
  String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function banner(text, kind = 'info') {
  const b = $('#banner');
  b.textContent = text;
  b.className = kind;
  b.hidden = !text;
  clearTimeout(banner.timer);
  if (text && kind === 'info') banner.timer = setTimeout(() => (b.hidden = true), 6000);
}

/** A state word as a coloured pill: the class names the word (st-locked, st-failed, …). */
const pill = (word) => (word ? `<span class="pill st-${esc(word)}">${esc(word)}</span>` : '');

// ---- login ---------------------------------------------------------------------------------------

let stream = null;
let loginShown = false;

function showLogin(message = '') {
  if (loginShown) return;
  loginShown = true;
  $('#login-error').textContent = message;
  $('#login').showModal();
  $('#token').focus();
}

whenUnauthorized(() => showLogin(token() ? 'The token was not accepted.' : ''));

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const t = $('#token').value.trim();
  setToken(t);
  try {
    await api('/v1/ihosts');
  } catch (err) {
    loginShown = false;
    $('#login-error').textContent = err instanceof ApiError && err.status === 401 ? err.message : String(err.message);
    loginShown = true;
    return;
  }
  loginShown = false;
  $('#login').close();
  $('#token').value = '';
  updateLogout();
  stream.reset();
});

$('#logout').addEventListener('click', () => {
  setToken('');
  updateLogout();
  stream.reset();
});

function updateLogout() {
  $('#logout').hidden = !token();
}

// ---- the live state ------------------------------------------------------------------------------

async function loadSnapshot() {
  const [hosts, alarms, events] = await Promise.all([
    api('/v1/ihosts'),
    api('/v1/alarms'),
    api(`/v1/events?limit=${MAX_EVENTS}`),
  ]);
  state.hosts = new Map(hosts.ihosts.map((h) => [h.hostname, h]));
  state.alarms = new Map(alarms.alarms.map((a) => [alarmKey(a), a]));
  state.events = events.events;
  for (const item of state.queue) apply(item);
  state.queue = [];
  state.ready = true;
  render();
}

function apply({ event, data }) {
  switch (event) {
    case 'host': {
      // Flash a row only when what the table shows changed (not, say, the uptime).
      const before = state.hosts.get(data.hostname);
      const shown = (h) => h && `${h.administrative} ${h.operational} ${h.availability} ${h.task}`;
      if (shown(before) !== shown(data)) state.changed.add(data.hostname);
      state.hosts.set(data.hostname, data);
      break;
    }
    case 'host-removed':
      state.hosts.delete(data.hostname);
      break;
    case 'alarm-raised':
      state.alarms.set(alarmKey(data), data);
      break;
    case 'alarm-cleared':
      state.alarms.delete(alarmKey(data));
      break;
    case 'event':
      state.events.push(data);
      if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
      break;
    default:
  }
}

function onStreamEvent(ev) {
  if (ev.event === 'hello') {
    // A fresh subscription (first load, after logging in): read the state now. A resumed one
    // replays what it missed instead.
    if (!state.ready && !state.loading) {
      state.loading = true;
      loadSnapshot()
        .catch((e) => banner(`cannot load the cluster state: ${e.message}`, 'error'))
        .finally(() => (state.loading = false));
    }
    return;
  }
  if (ev.event === 'gap') {
    banner(`${ev.data.reason}`, 'warn');
    state.ready = false;
    state.queue = [];
    state.loading = true;
    loadSnapshot()
      .catch((e) => banner(`cannot load the cluster state: ${e.message}`, 'error'))
      .finally(() => (state.loading = false));
    return;
  }
  if (!state.ready) {
    state.queue.push(ev);
    return;
  }
  apply(ev);
  scheduleRender();
}

function onStreamStatus(live, why) {
  const el = $('#live');
  el.className = live ? 'live on' : 'live off';
  el.textContent = live ? 'live' : `reconnecting${why ? ` (${why})` : ''}`;
}

let renderPending = false;
function scheduleRender() {
  if (renderPending) return;
  renderPending = true;
  requestAnimationFrame(() => {
    renderPending = false;
    render();
  });
}

// ---- views ---------------------------------------------------------------------------------------

const ACTIONS = [
  ['lock', 'Lock'],
  ['unlock', 'Unlock'],
  ['force-lock', 'Force lock'],
  ['swact', 'Swact'],
  ['reboot', 'Reboot'],
  ['reset', 'Reset'],
  ['power-on', 'Power on'],
  ['power-off', 'Power off'],
  ['reinstall', 'Reinstall'],
  ['delete', 'Delete'],
];

function route() {
  const [, view = 'hosts', arg] = decodeURIComponent(location.hash).split('/');
  return { view, arg };
}

function render() {
  const { view, arg } = route();
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === view || (view === 'host' && a.dataset.nav === 'hosts'));
  }
  const count = state.alarms.size;
  $('#alarm-count').textContent = count ? String(count) : '';
  const main = $('#view');
  if (!state.ready) {
    main.innerHTML = '<p class="muted">loading…</p>';
    return;
  }
  // Filters keep their values across live re-renders.
  const focused = document.activeElement?.id;
  if (view === 'host' && arg) renderHost(main, arg);
  else if (view === 'alarms') renderAlarms(main);
  else if (view === 'events') renderEvents(main);
  else renderHosts(main);
  if (focused && document.getElementById(focused)) {
    const el = document.getElementById(focused);
    el.focus();
    if (el.setSelectionRange && el.type === 'text') el.setSelectionRange(el.value.length, el.value.length);
  }
  state.changed.clear();
}

function hostRow(h) {
  const flash = state.changed.has(h.hostname) ? ' class="flash"' : '';
  const quick = h.administrative === 'locked' ? 'unlock' : 'lock';
  return `<tr data-host="${esc(h.hostname)}"${flash}>
    <td><a href="#/host/${esc(h.hostname)}">${esc(h.hostname)}</a></td>
    <td>${esc(h.personality)}</td>
    <td class="admin">${pill(h.administrative)}</td>
    <td class="oper">${pill(h.operational)}</td>
    <td class="avail">${pill(h.availability)}</td>
    <td class="task">${esc(h.task)}</td>
    <td><button class="act" data-host="${esc(h.hostname)}" data-action="${quick}">${quick === 'lock' ? 'Lock' : 'Unlock'}</button></td>
  </tr>`;
}

function renderHosts(main) {
  const hosts = [...state.hosts.values()].sort((a, b) => a.id - b.id || a.hostname.localeCompare(b.hostname));
  main.innerHTML = `<h1>Hosts <span class="muted">${hosts.length}</span></h1>
    <table id="hosts"><thead><tr>
      <th>hostname</th><th>personality</th><th>administrative</th><th>operational</th><th>availability</th><th>task</th><th></th>
    </tr></thead><tbody>${hosts.map(hostRow).join('')}</tbody></table>`;
}

const filters = { alarms: { severity: '', host: '', id: '' }, events: { host: '', id: '', text: '' } };

function filterInputs(kind, fields) {
  return `<div class="filters">${fields
    .map(([name, label, options]) => {
      const v = filters[kind][name];
      const id = `f-${kind}-${name}`;
      if (options) {
        return `<label>${label} <select id="${id}" data-filter="${kind}.${name}">${options
          .map((o) => `<option value="${o}"${o === v ? ' selected' : ''}>${o || 'any'}</option>`)
          .join('')}</select></label>`;
      }
      return `<label>${label} <input type="text" id="${id}" data-filter="${kind}.${name}" value="${esc(v)}"></label>`;
    })
    .join('')}</div>`;
}

const matches = (value, wanted) => !wanted || String(value ?? '').toLowerCase().includes(wanted.toLowerCase());

function alarmRows(alarms) {
  if (!alarms.length) return '<p class="muted">no active alarms</p>';
  return `<table class="alarms"><thead><tr><th>alarm</th><th>host</th><th>severity</th><th>reason</th><th>repair</th></tr></thead><tbody>${alarms
    .map(
      (a) => `<tr><td>${esc(a.alarm_id)}</td><td><a href="#/host/${esc(a.hostname)}">${esc(a.hostname)}</a></td>
      <td>${pill(a.severity)}</td><td>${esc(a.reason_text)}</td><td>${esc(a.proposed_repair_action)}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function eventRows(events) {
  if (!events.length) return '<p class="muted">no events</p>';
  return `<table class="events"><thead><tr><th>time</th><th>event</th><th>host</th><th>reason</th><th>severity</th></tr></thead><tbody>${events
    .map(
      (e) => `<tr><td class="time">${esc(e.timestamp)}</td><td>${esc(e.event_log_id)}</td>
      <td><a href="#/host/${esc(e.hostname)}">${esc(e.hostname)}</a></td><td>${esc(e.reason_text)}</td><td>${pill(e.severity === 'critical' ? 'critical' : '')}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function renderAlarms(main) {
  const f = filters.alarms;
  const alarms = [...state.alarms.values()].filter(
    (a) => (!f.severity || a.severity === f.severity) && matches(a.hostname, f.host) && matches(a.alarm_id, f.id),
  );
  main.innerHTML = `<h1>Active alarms <span class="muted">${alarms.length} of ${state.alarms.size}</span></h1>
    ${filterInputs('alarms', [
      ['severity', 'severity', ['', 'critical', 'major', 'minor', 'warning']],
      ['host', 'host', null],
      ['id', 'alarm id', null],
    ])}${alarmRows(alarms)}`;
}

function renderEvents(main) {
  const f = filters.events;
  const events = state.events
    .filter((e) => matches(e.hostname, f.host) && matches(e.event_log_id, f.id) && matches(e.reason_text, f.text))
    .slice()
    .reverse();
  main.innerHTML = `<h1>Events <span class="muted">${events.length}, newest first</span></h1>
    ${filterInputs('events', [
      ['host', 'host', null],
      ['id', 'event id', null],
      ['text', 'text', null],
    ])}${eventRows(events)}`;
}

// Host detail: the record from the live state, and what the host's agent and BMC reported, read
// once per visit (inventory does not change while a host runs).
const details = new Map();

async function loadDetails(name) {
  const get = (path) =>
    api(`/v1/ihosts/${encodeURIComponent(name)}/${path}`).catch((e) => ({ error: e.message, status: e.status }));
  const [icpus, imemorys, idisks, ports, isensors] = await Promise.all([
    get('icpus'),
    get('imemorys'),
    get('idisks'),
    get('ports'),
    get('isensors'),
  ]);
  details.set(name, { icpus, imemorys, idisks, ports, isensors });
  scheduleRender();
}

function listTable(body, key, columns) {
  if (!body) return '<p class="muted">loading…</p>';
  if (body.error) return `<p class="muted">${esc(body.error)}</p>`;
  const rows = body[key] || [];
  if (!rows.length) return '<p class="muted">none reported</p>';
  const cols = columns || Object.keys(rows[0]).filter((k) => typeof rows[0][k] !== 'object' && k !== 'uuid' && !k.endsWith('_uuid'));
  return `<table class="inventory"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${cols.map((c) => `<td>${esc(r[c])}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function renderHost(main, name) {
  const h = state.hosts.get(name);
  if (!h) {
    main.innerHTML = `<h1>${esc(name)}</h1><p class="muted">no such host (deleted, or not added yet)</p>`;
    return;
  }
  if (!details.has(name)) {
    details.set(name, {});
    loadDetails(name);
  }
  const d = details.get(name);
  const alarms = [...state.alarms.values()].filter((a) => a.hostname === name);
  const events = state.events.filter((e) => e.hostname === name).slice(-50).reverse();
  const field = (k, v) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
  main.innerHTML = `<h1>${esc(h.hostname)} <span class="muted">${esc(h.personality)}</span></h1>
    <div class="states">${pill(h.administrative)} ${pill(h.operational)} ${pill(h.availability)}
      <span class="task">${esc(h.task)}</span></div>
    <div class="actions">${ACTIONS.map(
      ([a, label]) => `<button class="act${a === 'delete' || a.startsWith('power-off') ? ' danger' : ''}" data-host="${esc(name)}" data-action="${a}">${label}</button>`,
    ).join('')}</div>
    <div class="columns">
      <section><h2>Host</h2><table class="fields">
        ${field('id', esc(h.id))}${field('uuid', esc(h.uuid))}${field('subfunctions', esc(h.subfunctions))}
        ${field('action', esc(h.action))}${field('uptime', `${esc(h.uptime)} s`)}
        ${field('mgmt', `${esc(h.mgmt_ip)} ${esc(h.mgmt_mac)}`)}${field('cluster', esc(h.cluster_ip))}
        ${field('install state', esc(h.install_state))}${field('updated', esc(h.updated_at))}
      </table></section>
      <section><h2>BMC</h2><table class="fields">
        ${field('type', esc(h.bm_type || 'not provisioned'))}${field('address', esc(h.bm_ip))}${field('user', esc(h.bm_username))}
      </table></section>
    </div>
    <section><h2>Alarms</h2>${alarmRows(alarms)}</section>
    <section><h2>Sensors</h2>${sensorSection(d.isensors)}</section>
    <section><h2>Events</h2>${eventRows(events)}</section>
    <section><h2>Inventory</h2>
      <h3>Processors</h3>${listTable(d.icpus, 'icpus', ['cpu', 'core', 'thread', 'numa_node', 'cpu_model'])}
      <h3>Memory</h3>${listTable(d.imemorys, 'imemorys')}
      <h3>Disks</h3>${listTable(d.idisks, 'idisks')}
      <h3>Ports</h3>${listTable(d.ports, 'ports')}
    </section>`;
}

function sensorSection(body) {
  // The API may not serve sensor readings at all (404): say so rather than show an empty table.
  if (body && body.status === 404) return '<p class="muted">the API serves no sensor readings for this host</p>';
  if (body && body.error) return `<p class="muted">no sensor data: ${esc(body.error)}</p>`;
  return listTable(body, 'isensors');
}

// ---- actions -------------------------------------------------------------------------------------

let pending = null;

document.addEventListener('click', (e) => {
  const btn = e.target.closest('button.act');
  if (!btn) return;
  pending = { host: btn.dataset.host, action: btn.dataset.action };
  $('#confirm-text').textContent = `${btn.textContent} ${pending.host}?`;
  $('#confirm-result').textContent = '';
  $('#confirm-ok').hidden = false;
  $('#confirm-cancel').textContent = 'Cancel';
  $('#confirm').showModal();
});

$('#confirm-ok').addEventListener('click', async (e) => {
  e.preventDefault();
  if (!pending) return;
  const { host, action } = pending;
  try {
    const res = await requestAction(host, action);
    $('#confirm').close();
    pending = null;
    banner(`${host}: ${action} accepted${res && res.action_id ? ` (action ${res.action_id})` : ''}`);
  } catch (err) {
    // The API's refusal as it is: the operator reads the same text the CLI prints.
    $('#confirm-result').textContent = err.message;
    $('#confirm-ok').hidden = true;
    $('#confirm-cancel').textContent = 'Close';
  }
});

$('#confirm-cancel').addEventListener('click', (e) => {
  e.preventDefault();
  pending = null;
  $('#confirm').close();
});

document.addEventListener('input', (e) => {
  const key = e.target.dataset?.filter;
  if (!key) return;
  const [kind, name] = key.split('.');
  filters[kind][name] = e.target.value;
  render();
});

// ---- start ---------------------------------------------------------------------------------------

window.addEventListener('hashchange', render);
updateLogout();
render();
stream = follow({
  onEvent: onStreamEvent,
  onStatus: onStreamStatus,
  onUnauthorized: () => showLogin(token() ? 'The token was not accepted.' : ''),
});
// A new login starts a new subscription: read the state again once it says hello.
const reset = stream.reset;
stream.reset = () => {
  state.ready = false;
  state.queue = [];
  render();
  reset();
};
$('#login').addEventListener('close', () => (loginShown = false));
