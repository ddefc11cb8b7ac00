// The topology page: polls /api/status and draws each cluster as a tree. Plain browser
// JavaScript on purpose: the daemon serves this file as it is, no build step.
(() => {
  const POLL_MS = 1000;
  const TOKEN_KEY = 'mha-api-token';
  const root = document.getElementById('clusters');
  const updated = document.getElementById('updated');
  const errorBox = document.getElementById('error');
  const tokenForm = document.getElementById('token-form');

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return e;
  }

  const pos = (p) => (p?.file ? `${p.file}:${p.pos}` : '-');

  function statusClass(name) {
    if (name === 'PING_OK') return 'ok';
    if (name === 'FAILOVER_ERROR' || name === 'PING_FAILED' || name === 'CONFIG_ERROR') return 'bad';
    return 'warn';
  }

  function nodeFor(s) {
    const r = s.replication;
    const detail = [];
    if (!s.alive) detail.push(`dead: ${s.error || 'unreachable'}`);
    else if (r) {
      detail.push(`IO ${r.ioState} · SQL ${r.sqlRunning ? 'Yes' : 'No'}`);
      detail.push(`lag ${r.secondsBehindMaster === null ? 'NULL' : `${r.secondsBehindMaster} s`}`);
      detail.push(`exec ${pos(r.exec)}`);
    } else {
      detail.push(`read_only=${s.readOnly ? 1 : 0}`);
      detail.push(`binlog ${pos(s.binlog)}`);
    }
    if (s.gtid?.currentPos) detail.push(`gtid ${s.gtid.currentPos}`);
    const role = s.alive ? s.role : 'dead';
    return el(
      'div',
      { class: `node ${role}`, 'data-server': s.name, 'data-role': role },
      el('strong', {}, s.name),
      el('span', { class: `badge ${role === 'dead' ? 'bad' : role === 'master' ? 'ok' : ''}` }, role),
      r && (!r.ioRunning || !r.sqlRunning) ? el('span', { class: 'badge bad' }, 'replication stopped') : null,
      el('div', { class: 'detail' }, detail.join(' · ')),
    );
  }

  function tree(servers) {
    const byParent = new Map();
    for (const s of servers) {
      if (!s.alive || !s.parent) continue;
      if (!byParent.has(s.parent)) byParent.set(s.parent, []);
      byParent.get(s.parent).push(s);
    }
    const names = new Set(servers.filter((s) => s.alive).map((s) => s.name));
    const roots = servers.filter((s) => s.alive && (!s.parent || !names.has(s.parent)));
    roots.sort((a, b) => (a.role === 'master' ? -1 : b.role === 'master' ? 1 : 0));
    const seen = new Set();
    const item = (s) => {
      seen.add(s.name);
      const kids = (byParent.get(s.name) || []).filter((k) => !seen.has(k.name));
      return el('li', {}, nodeFor(s), kids.length ? el('ul', {}, ...kids.map(item)) : null);
    };
    const dead = servers.filter((s) => !s.alive);
    return el('ul', { class: 'tree' }, ...roots.map(item), ...dead.map((s) => el('li', {}, nodeFor(s))));
  }

  function history(failovers) {
    if (!failovers.length) return el('p', { class: 'muted' }, 'No failover yet.');
    return el(
      'table',
      { class: 'history' },
      el(
        'tr',
        {},
        el('th', {}, 'started'),
        el('th', {}, 'dead master'),
        el('th', {}, 'new master'),
        el('th', {}, 'result'),
        el('th', {}, 'took'),
      ),
      ...failovers.map((f) =>
        el(
          'tr',
          { class: 'failover' },
          el('td', {}, f.startedAt),
          el('td', {}, f.deadMaster),
          el('td', {}, f.newMaster || '-'),
          el('td', {}, f.status),
          el('td', {}, `${(f.totalMs / 1000).toFixed(1)} s`),
        ),
      ),
    );
  }

  function clusterCard(c) {
    const st = c.status ? c.status.name : c.state;
    const topo = c.topology;
    return el(
      'section',
      { class: 'cluster', 'data-cluster': c.name, 'data-master': topo?.master || c.master || '' },
      el(
        'h2',
        {},
        c.name,
        el('span', { class: `badge ${statusClass(st)}` }, st),
        el('span', { class: 'badge' }, c.state),
        c.leadership ? el('span', { class: 'badge' }, c.leadership.leading ? 'etcd: leader' : 'etcd: standby') : null,
      ),
      el(
        'div',
        { class: 'muted' },
        `master ${c.master || '?'} · ping ${c.lastPing ? (c.lastPing.ok ? `${c.lastPing.latencyMs} ms` : 'failed') : '-'}`,
        c.lastError ? ` · last error: ${c.lastError}` : '',
      ),
      topo?.servers ? tree(topo.servers) : el('p', { class: 'error' }, topo?.error || 'topology not read yet'),
      el('h3', {}, 'Failover history'),
      history(c.failovers || []),
    );
  }

  async function poll() {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    try {
      const res = await fetch('api/status', { headers, cache: 'no-store' });
      if (res.status === 401) {
        tokenForm.hidden = false;
        errorBox.hidden = false;
        errorBox.textContent = 'Unauthorized: enter the API token.';
        return;
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = await res.json();
      tokenForm.hidden = true;
      errorBox.hidden = true;
      root.replaceChildren(...data.clusters.map(clusterCard));
      if (!data.clusters.length) root.append(el('p', { class: 'muted' }, 'No cluster configured.'));
      updated.textContent = `updated ${new Date().toLocaleTimeString()} · daemon pid ${data.daemon.pid}`;
    } catch (e) {
      errorBox.hidden = false;
      errorBox.textContent = `Daemon not reachable: ${e.message}`;
    }
  }

  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById('token').value);
    poll();
  });

  async function loop() {
    await poll();
    setTimeout(loop, POLL_MS);
  }
  loop();
})();
