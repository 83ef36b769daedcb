// The console page and its module, served as they are (no front-end build step). The module
// builds every cell with textContent, never innerHTML: node ids, URIs and descriptions come from
// Redis, where anyone with write access could have put markup.

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sipfleet console</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f4f6f9; }
  header { display: flex; align-items: center; gap: 1rem; padding: .6rem 1.2rem; background: #1d2430; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; }
  header .spacer { flex: 1; }
  header input { width: 16rem; }
  main { padding: 0 1.2rem 1.2rem; }
  section { background: #fff; border: 1px solid #d5dbe3; border-radius: 6px; margin-top: 1rem; padding: .6rem 1rem; overflow-x: auto; }
  h2 { font-size: 1rem; margin: .2rem 0 .6rem; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .6rem; border-bottom: 1px solid #e6e9ee; white-space: nowrap; }
  th { font-weight: 600; color: #4a5566; }
  .on { color: #b3261e; font-weight: 600; }
  .ok { color: #1b7f3b; font-weight: 600; }
  .muted { color: #6b7685; }
  #status.error { color: #ffb4ab; }
  button { font: inherit; padding: .15rem .6rem; }
  button:disabled { opacity: .45; }
  #message { min-height: 1.2em; }
</style>
</head>
<body>
<header>
  <h1>sipfleet console</h1>
  <span id="self" class="muted"></span>
  <span class="spacer"></span>
  <span id="status">connecting…</span>
  <span id="auth"></span>
</header>
<main>
  <p id="message" role="status"></p>
  <section>
    <h2>Maintenance</h2>
    <p>Fleet-wide: <span id="fleet-maintenance" data-testid="fleet-maintenance">?</span>
      <button id="fleet-on" data-testid="fleet-maintenance-on" data-action>Turn on fleet-wide</button>
      <button id="fleet-off" data-testid="fleet-maintenance-off" data-action>Turn off fleet-wide</button></p>
  </section>
  <section>
    <h2>Edges</h2>
    <table data-testid="edges">
      <thead><tr><th>Node</th><th>Version</th><th>SIP</th><th>Admin</th><th>Up</th><th>Ready</th><th>Calls</th><th>State</th><th>Node flag</th><th></th></tr></thead>
      <tbody id="edges"></tbody>
    </table>
  </section>
  <section>
    <h2>Dispatcher sets</h2>
    <p><button id="reload" data-testid="reload" data-action>Reload the list file</button>
      <span id="list-file" class="muted"></span></p>
    <table data-testid="destinations">
      <thead><tr><th>Set</th><th>Destination</th><th>State</th><th>Load</th><th>Latency</th><th></th></tr></thead>
      <tbody id="destinations"></tbody>
    </table>
  </section>
  <section>
    <h2>Probers</h2>
    <p id="probers" data-testid="probers"></p>
  </section>
</main>
<script type="module" src="/console/app.js"></script>
</body>
</html>
`;

export const CONSOLE_JS = `// sipfleet console: polls /console/api/state every second; actions POST with the admin token.
const POLL_MS = 1000;
const TOKEN_KEY = 'sipfleet-admin-token';
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(TOKEN_KEY);
let state = null;

function cell(row, text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function actionButton(label, testId, run) {
  const button = document.createElement('button');
  button.textContent = label;
  button.dataset.testid = testId;
  button.dataset.action = '';
  button.addEventListener('click', run);
  return button;
}

function duration(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
}

function edgeState(m) {
  if (m.maintenance === null) return 'serving';
  if (m.maintenance === 'draining') return 'draining';
  return 'maintenance (' + m.maintenance + ')';
}

function say(text, isError) {
  $('message').textContent = text;
  $('message').className = isError ? 'on' : 'muted';
}

async function act(path, body) {
  const res = await fetch('/console/api/' + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + (token || '') },
    body: JSON.stringify(body || {}),
  });
  const answer = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(answer.error || res.statusText);
  return answer;
}

function run(label, path, body) {
  return async () => {
    try {
      await act(path, body);
      say(label + ': done', false);
      await poll();
    } catch (err) {
      say(label + ': ' + err.message, true);
    }
  };
}

let authShown = null;

/** Rebuilt only when the mode changes: the token field must survive the polls. */
function renderAuth() {
  const mode = state && !state.tokenConfigured ? 'none' : token ? 'in' : 'out';
  if (mode === authShown) return;
  authShown = mode;
  const box = $('auth');
  box.replaceChildren();
  if (mode === 'none') {
    box.textContent = 'read-only (no admin token configured)';
    box.dataset.testid = 'auth-state';
    return;
  }
  if (token) {
    const span = document.createElement('span');
    span.textContent = 'signed in ';
    span.dataset.testid = 'auth-state';
    const out = document.createElement('button');
    out.textContent = 'Sign out';
    out.addEventListener('click', () => {
      token = null;
      sessionStorage.removeItem(TOKEN_KEY);
      render();
    });
    box.append(span, out);
    return;
  }
  const input = document.createElement('input');
  input.type = 'password';
  input.placeholder = 'admin token';
  input.dataset.testid = 'token';
  const login = document.createElement('button');
  login.textContent = 'Sign in';
  login.dataset.testid = 'login';
  login.addEventListener('click', async () => {
    token = input.value.trim();
    try {
      await act('login');
      sessionStorage.setItem(TOKEN_KEY, token);
      say('signed in: actions enabled', false);
    } catch (err) {
      token = null;
      say('sign-in refused: ' + err.message, true);
    }
    render();
  });
  const ro = document.createElement('span');
  ro.textContent = 'read-only ';
  ro.dataset.testid = 'auth-state';
  box.append(ro, input, login);
}

function render() {
  renderAuth();
  if (!state) return;
  $('self').textContent = 'on edge ' + state.nodeId;
  const fleetOn = state.maintenance.fleet;
  $('fleet-maintenance').textContent = fleetOn ? 'ON (new calls refused)' : 'off';
  $('fleet-maintenance').className = fleetOn ? 'on' : 'ok';
  $('fleet-on').onclick = run('fleet maintenance on', 'maintenance', { on: true });
  $('fleet-off').onclick = run('fleet maintenance off', 'maintenance', { on: false });

  const edges = $('edges');
  edges.replaceChildren();
  for (const m of state.edges) {
    const row = document.createElement('tr');
    row.dataset.node = m.nodeId;
    cell(row, m.nodeId + (m.nodeId === state.nodeId ? ' (this edge)' : ''));
    cell(row, m.version);
    cell(row, m.sip.join(', '));
    cell(row, m.admin);
    cell(row, duration(Math.max(0, state.now - m.startedAt)));
    cell(row, m.readiness, m.readiness === 'ready' ? 'ok' : 'on');
    cell(row, String(m.callsInFlight));
    cell(row, edgeState(m), m.maintenance === null ? 'ok' : 'on');
    cell(row, m.nodeFlag ? 'on' : 'off', m.nodeFlag ? 'on' : '');
    const actions = cell(row, '');
    actions.append(
      m.nodeFlag
        ? actionButton('Maintenance off', 'node-off', run(m.nodeId + ' maintenance off', 'maintenance', { on: false, node: m.nodeId }))
        : actionButton('Maintenance on', 'node-on', run(m.nodeId + ' maintenance on', 'maintenance', { on: true, node: m.nodeId })),
    );
    edges.append(row);
  }
  if (state.edges.length === 0) {
    const row = document.createElement('tr');
    cell(row, 'no live edges (none has heartbeated within its TTL)', 'muted');
    edges.append(row);
  }

  const dst = $('destinations');
  dst.replaceChildren();
  for (const set of state.dispatcher.sets) {
    for (const d of set.destinations) {
      const row = document.createElement('tr');
      row.dataset.uri = d.uri;
      cell(row, String(set.setid));
      cell(row, d.uri);
      cell(row, d.flagsText + (d.active ? ' (active)' : ' (not active)'), d.active ? 'ok' : 'on');
      cell(row, String(d.load));
      cell(row, d.latency ? d.latency.estimate.toFixed(1) + ' ms (avg ' + d.latency.average.toFixed(1) + ')' : '-');
      const actions = cell(row, '');
      actions.append(
        d.active
          ? actionButton('Set inactive', 'set-inactive', run(d.uri + ' inactive', 'destination', { setid: set.setid, uri: d.uri, active: false }))
          : actionButton('Set active', 'set-active', run(d.uri + ' active', 'destination', { setid: set.setid, uri: d.uri, active: true })),
      );
      dst.append(row);
    }
  }
  if (state.dispatcher.sets.length === 0) {
    const row = document.createElement('tr');
    cell(row, 'no dispatcher list in Redis', 'muted');
    dst.append(row);
  }
  $('list-file').textContent = state.listFile ? 'from ' + state.listFile : 'no dispatcher.listFile configured';
  $('reload').onclick = run('list reload', 'reload');

  $('probers').textContent =
    'Probing (ping-active): ' + (state.probing.pingActive ? 'on' : 'off') +
    '. Prober records: none (probers keep no membership record in Redis).';

  // Read-only: every action disabled without a token (the server refuses them anyway).
  const allowed = Boolean(token) && state.tokenConfigured;
  for (const button of document.querySelectorAll('[data-action]')) {
    button.disabled = !allowed || (button.id === 'reload' && !state.listFile);
    button.title = allowed ? '' : 'read-only: sign in with the admin token';
  }
}

async function poll() {
  try {
    const res = await fetch('/console/api/state', { cache: 'no-store' });
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || res.statusText);
    state = body;
    $('status').textContent = 'updated ' + new Date().toLocaleTimeString();
    $('status').className = '';
  } catch (err) {
    $('status').textContent = 'cannot read the fleet: ' + err.message;
    $('status').className = 'error';
  }
  render();
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}
loop();
`;
