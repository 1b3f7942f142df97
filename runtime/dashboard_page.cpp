// The dashboard page (HTML, CSS and JavaScript), compiled into the library.
// It renders `GET /api/state` every 2 s; `#redrive=<sink>` in the URL presses
// that sink's redrive button once after the first render, `#stop=<pool>/<key>`
// that job's stop button, `#deadredrive=<pool>[/<key>]` and
// `#deadpurge=<pool>[/<key>]` a pool's dead-job buttons (all, or one key)
// (for scripted checks, e.g. the headless browser test).

#include "pulse/runtime/dashboard.hpp"

namespace pulse {

const std::string& dashboard_html() {
  static const std::string page = R"PULSE(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Pulse</title>
<style>
body { font-family: sans-serif; margin: 1em 2em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.2em 0 .3em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; }
td.name { text-align: left; font-family: monospace; }
.warn { background: #ffe9b3; }
.bad { background: #ffc4c4; }
#status { color: #666; font-size: .9em; }
</style></head>
<body>
<h1>Pulse</h1>
<div id="status">loading</div>
<h2>Sinks</h2>
<table id="sinks"><thead><tr><th>sink</th><th>streams</th><th>instances</th>
<th>delivered</th><th>acked</th><th>nacked</th><th>dead-lettered</th>
<th>pending</th><th>lag</th><th>dead letters waiting</th><th></th></tr></thead>
<tbody></tbody></table>
<h2>Sink streams</h2>
<table id="sinkstreams"><thead><tr><th>sink</th><th>stream</th>
<th>delivered</th><th>acked</th><th>nacked</th><th>reclaimed</th>
<th>dead-lettered</th><th>pending</th><th>lag</th><th>dead letters waiting</th>
</tr></thead><tbody></tbody></table>
<h2>Readers</h2>
<table id="readers"><thead><tr><th>streams</th><th>instances</th>
<th>delivered</th><th>errors</th></tr></thead><tbody></tbody></table>
<h2>Pools</h2>
<table id="pools"><thead><tr><th>pool</th><th>node</th><th>workers</th>
<th>running jobs</th><th>queued</th><th>dispatches</th><th>starts</th>
<th>stops</th><th>failovers</th><th>mean dispatch (ms)</th></tr></thead>
<tbody></tbody></table>
<h2>Jobs</h2>
<table id="jobs"><thead><tr><th>pool</th><th>jobs</th><th>keys (first 20)</th>
<th>delayed</th><th>next due</th><th>results kept</th><th>stop a job</th>
</tr></thead><tbody></tbody></table>
<h2>Dead jobs</h2>
<table id="dead"><thead><tr><th>pool</th><th>dead jobs</th>
<th>oldest (key, attempts: last error)</th><th>redrive or purge</th>
</tr></thead><tbody></tbody></table>
<h2>Workers</h2>
<table id="workers"><thead><tr><th>pool</th><th>worker</th><th>name</th>
<th>node</th><th>jobs</th><th>queue depth</th></tr></thead>
<tbody></tbody></table>
<h2>Maps</h2>
<table id="maps"><thead><tr><th>map</th><th>replicas</th><th>revision</th>
<th>resyncs</th><th>changes applied</th></tr></thead><tbody></tbody></table>
<h2>Redis</h2>
<table id="gateways"><thead><tr><th>gateways</th><th>count</th>
<th>connected</th><th>commands</th><th>errors</th><th>reconnects</th>
<th>mean latency (ms)</th></tr></thead><tbody></tbody></table>
<script>
'use strict';
let lastState = null;
let autoRedrive = null;
const m = /#redrive=([^&]+)/.exec(location.hash);
if (m) autoRedrive = decodeURIComponent(m[1]);
let autoStop = null;
const ms_ = /#stop=([^&]+)/.exec(location.hash);
if (ms_) autoStop = decodeURIComponent(ms_[1]);
let autoDead = null;
const md = /#dead(redrive|purge)=([^&]+)/.exec(location.hash);
if (md) autoDead = 'dead' + md[1] + '-' + decodeURIComponent(md[2]);

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}
function fill(id, rows, build) {
  const body = document.querySelector('#' + id + ' tbody');
  body.textContent = '';
  for (const r of rows) {
    const tr = document.createElement('tr');
    build(tr, r);
    body.appendChild(tr);
  }
}
function ms(s) { return (s * 1000).toFixed(2); }
function waiting(state, streams) {
  let n = 0;
  for (const s of streams.split(',')) {
    const v = state.dead_letters[s + ':dead-letter'];
    if (v === undefined || v < 0) return '?';
    n += v;
  }
  return n;
}
async function redrive(sink, streams, button) {
  button.disabled = true;
  try {
    const r = await fetch('/api/redrive?streams=' + encodeURIComponent(streams),
                          {method: 'POST'});
    const j = await r.json();
    document.body.dataset.redriveSink = sink;
    document.body.dataset.redriveMoved = String(j.moved);
    document.getElementById('status').textContent =
      'redrove ' + j.moved + ' dead letter(s) of sink ' + sink;
  } catch (e) {
    document.getElementById('status').textContent = 'redrive failed: ' + e;
  }
  await refresh();
}
async function stopJob(pool, key, button) {
  button.disabled = true;
  try {
    const r = await fetch('/api/stop?pool=' + encodeURIComponent(pool) +
                          '&key=' + encodeURIComponent(key), {method: 'POST'});
    const j = await r.json();
    document.body.dataset.stopped = j.stopped !== undefined
      ? pool + '/' + j.stopped : 'error';
    document.getElementById('status').textContent = j.stopped !== undefined
      ? 'stopped job ' + j.stopped + ' of pool ' + pool
      : 'stop failed: ' + j.error;
  } catch (e) {
    document.getElementById('status').textContent = 'stop failed: ' + e;
  }
  await refresh();
}
async function steerDead(what, pool, key, button) {
  button.disabled = true;
  let q = '/api/dead-jobs/' + what + '?pool=' + encodeURIComponent(pool);
  if (key !== null) q += '&key=' + encodeURIComponent(key);
  try {
    const r = await fetch(q, {method: 'POST'});
    const j = await r.json();
    const n = what === 'purge' ? j.deleted : j.moved;
    document.body.dataset.deadDone = n === undefined
      ? 'error' : what + ':' + pool + ':' + n;
    document.getElementById('status').textContent = n === undefined
      ? what + ' failed: ' + j.error
      : (what === 'purge' ? 'purged ' : 'redrove ') + n +
        ' dead job(s) of pool ' + pool + ', ' + j.left + ' left';
  } catch (e) {
    document.getElementById('status').textContent = what + ' failed: ' + e;
  }
  await refresh();
}
function deadButton(td, what, pool, key, dead) {
  const b = document.createElement('button');
  b.textContent = what + ' ' + (key === null ? 'all' : key);
  b.id = 'dead' + what + '-' + pool + (key === null ? '' : '/' + key);
  b.disabled = !(dead > 0);
  b.onclick = () => steerDead(what, pool, key, b);
  td.appendChild(b);
}
function dueText(v) {
  if (v === null || v === undefined) return '-';
  return v >= 0 ? 'in ' + (v / 1000).toFixed(1) + ' s'
                : 'overdue ' + (-v / 1000).toFixed(1) + ' s';
}
function render(state) {
  fill('sinks', state.sinks, (tr, s) => {
    cell(tr, s.name, 'name');
    cell(tr, s.streams, 'name');
    cell(tr, s.instances);
    cell(tr, s.delivered);
    cell(tr, s.acked);
    cell(tr, s.nacked);
    cell(tr, s.dead_lettered, s.dead_lettered > 0 ? 'warn' : '');
    cell(tr, s.pending);
    cell(tr, s.lag < 0 ? '?' : s.lag, s.lag > 1000 ? 'bad' : '');
    const w = waiting(state, s.streams);
    const td = cell(tr, w, w > 0 ? 'warn' : '');
    td.dataset.sink = s.name;
    td.className += ' dead-letters';
    const act = document.createElement('td');
    const b = document.createElement('button');
    b.textContent = 'redrive';
    b.id = 'redrive-' + s.name;
    b.disabled = !(w > 0);
    b.onclick = () => redrive(s.name, s.streams, b);
    act.appendChild(b);
    tr.appendChild(act);
    tr.id = 'sink-' + s.name;
  });
  const streams = [];
  for (const s of state.sinks)
    for (const p of s.per_stream || []) streams.push([s.name, p]);
  fill('sinkstreams', streams, (tr, [sink, p]) => {
    tr.id = 'sinkstream-' + sink + '-' + p.stream;
    cell(tr, sink, 'name'); cell(tr, p.stream, 'name');
    cell(tr, p.delivered); cell(tr, p.acked); cell(tr, p.nacked);
    cell(tr, p.reclaimed, p.reclaimed > 0 ? 'warn' : '');
    cell(tr, p.dead_lettered, p.dead_lettered > 0 ? 'warn' : '');
    cell(tr, p.pending); cell(tr, p.lag < 0 ? '?' : p.lag);
    cell(tr, p.dead_letters < 0 ? '?' : p.dead_letters,
         p.dead_letters > 0 ? 'warn' : '');
  });
  fill('readers', state.readers, (tr, s) => {
    cell(tr, s.streams, 'name'); cell(tr, s.instances);
    cell(tr, s.delivered); cell(tr, s.errors);
  });
  fill('pools', state.pools, (tr, p) => {
    tr.id = 'pool-' + p.pool + '-' + p.node;
    cell(tr, p.pool, 'name'); cell(tr, p.node, 'name'); cell(tr, p.workers);
    cell(tr, p.running); cell(tr, p.queued); cell(tr, p.dispatches);
    cell(tr, p.starts); cell(tr, p.stops); cell(tr, p.failovers);
    cell(tr, ms(p.mean_dispatch_seconds));
  });
  fill('jobs', Object.keys(state.jobs), (tr, pool) => {
    const j = state.jobs[pool];
    tr.id = 'jobs-' + pool;
    cell(tr, pool, 'name'); cell(tr, j.count < 0 ? '?' : j.count);
    const keys = j.keys.slice().sort();
    cell(tr, keys.join(', '), 'name');
    cell(tr, j.delayed < 0 ? '?' : j.delayed);
    cell(tr, dueText(j.next_due_in_ms),
         j.next_due_in_ms !== null && j.next_due_in_ms < -5000 ? 'warn' : '');
    cell(tr, j.results < 0 ? '?' : j.results + (j.results_complete ? '' : '+'));
    const act = document.createElement('td');
    act.className = 'name';
    for (const k of keys) {
      const b = document.createElement('button');
      b.textContent = 'stop ' + k;
      b.id = 'stop-' + pool + '/' + k;
      b.onclick = () => stopJob(pool, k, b);
      act.appendChild(b);
    }
    tr.appendChild(act);
  });
  fill('dead', Object.keys(state.jobs), (tr, pool) => {
    const j = state.jobs[pool];
    tr.id = 'dead-' + pool;
    cell(tr, pool, 'name');
    cell(tr, j.dead < 0 ? '?' : j.dead, j.dead > 0 ? 'warn' : '');
    cell(tr, (j.dead_jobs || []).map(d => d.key + ', ' + d.attempts + ': ' +
                                           d.error).join('; ') +
             (j.dead > (j.dead_jobs || []).length ? '; ...' : ''), 'name');
    const act = document.createElement('td');
    act.className = 'name';
    deadButton(act, 'redrive', pool, null, j.dead);
    deadButton(act, 'purge', pool, null, j.dead);
    for (const d of j.dead_jobs || []) {
      deadButton(act, 'redrive', pool, d.key, 1);
      deadButton(act, 'purge', pool, d.key, 1);
    }
    tr.appendChild(act);
  });
  const workers = [];
  for (const pool of Object.keys(state.jobs))
    for (const w of state.jobs[pool].workers || []) workers.push([pool, w]);
  fill('workers', workers, (tr, [pool, w]) => {
    tr.id = 'worker-' + w.id;
    cell(tr, pool, 'name'); cell(tr, w.id, 'name');
    cell(tr, w.name || '-', 'name'); cell(tr, w.node_name || w.node, 'name');
    cell(tr, w.jobs < 0 ? '?' : w.jobs);
    cell(tr, w.queue < 0 ? '?' : w.queue, w.queue > 100 ? 'warn' : '');
  });
  fill('maps', state.maps, (tr, x) => {
    tr.id = 'map-' + x.name;
    cell(tr, x.name, 'name'); cell(tr, x.replicas); cell(tr, x.revision);
    cell(tr, x.resyncs); cell(tr, x.applied);
  });
  fill('gateways', state.gateways, (tr, g) => {
    cell(tr, g.role, 'name'); cell(tr, g.gateways); cell(tr, g.connected);
    cell(tr, g.commands); cell(tr, g.errors, g.errors > 0 ? 'warn' : '');
    cell(tr, g.reconnects); cell(tr, ms(g.mean_latency_seconds));
  });
}
async function refresh() {
  try {
    const r = await fetch('/api/state');
    const state = await r.json();
    lastState = state;
    render(state);
    if (!document.body.dataset.redriveMoved && !document.body.dataset.stopped
        && !document.body.dataset.deadDone)
      document.getElementById('status').textContent =
        'updated ' + new Date().toLocaleTimeString() + ' (' +
        state.scrape.asked + ' actors, ' + state.scrape.missing + ' late)';
    document.body.dataset.ready = '1';
    if (autoRedrive !== null) {
      const b = document.getElementById('redrive-' + autoRedrive);
      autoRedrive = null;
      if (b) b.click();
    }
    if (autoStop !== null) {
      const b = document.getElementById('stop-' + autoStop);
      autoStop = null;
      if (b) b.click();
    }
    if (autoDead !== null) {
      const b = document.getElementById(autoDead);
      autoDead = null;
      if (b) b.click();
    }
  } catch (e) {
    document.getElementById('status').textContent = 'error: ' + e;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>
)PULSE";
  return page;
}

} // namespace pulse
