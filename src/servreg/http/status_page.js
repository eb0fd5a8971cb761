"use strict";
(() => {
  const body = document.body;
  const limit = Number(body.dataset.limit);
  const refreshMs = Number(body.dataset.refresh);
  const skew = Number(body.dataset.now) - Date.now();  // the server's clock minus ours
  const $ = (id) => document.getElementById(id);
  const input = $("q"), services = $("services"), status = $("status");
  let updated = null, failure = null, sequence = 0, timer = null;
  // The event stream of GET /v1/watch: an event at every change of the alive instances that
  // the filter matches. No event says when an instance last pinged, so the periodic refresh
  // goes on, slowly, for the "last seen" times, and stands in for the stream without one.
  let stream = null, watching = null, live = false, busy = false, wanted = false;

  const ago = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  };
  const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const pattern = () => input.value.trim() || "*";

  function row(item) {
    const state = item.state || (item.alive ? "alive" : "dead");
    const tr = el("tr", state);
    const first = Date.parse(item.first_seen), last = Date.parse(item.last_seen);
    const byUrl = item.url && item.url !== "http://" + (item.host.includes(":") ? "[" + item.host + "]" : item.host) + ":" + item.port + "/api";
    const ep = el("td", "ep", byUrl ? item.url : item.host + ":" + item.port);
    const f = el("td", "first", utc(first));
    f.dataset.label = "first seen";
    const l = el("td", "last", ago(Date.now() + skew - last));
    l.dataset.label = "last seen";
    l.dataset.last = String(last);
    l.title = utc(last);
    const st = el("td", "state");
    st.append(el("span", "badge " + state, state));
    tr.append(ep, f, l, st);
    return tr;
  }

  function render(items) {
    const groups = new Map();
    let alive = 0;
    for (const item of items) {
      if (!groups.has(item.name)) groups.set(item.name, []);
      groups.get(item.name).push(item);
      if (item.alive) alive++;
    }
    const out = document.createDocumentFragment();
    let shown = 0;
    for (const [name, list] of groups) {
      if (shown >= limit) break;
      const up = list.filter((i) => i.alive).length;
      const section = el("section", "service");
      section.dataset.name = name;
      const h = el("h2");
      h.append(el("span", "name", name),
               el("span", "count", up + " alive \u00b7 " + (list.length - up) + " dead"));
      const table = el("table");
      const head = el("thead"), hr = el("tr");
      for (const t of ["instance", "first seen", "last seen", "state"]) hr.append(el("th", null, t));
      head.append(hr);
      const tbody = el("tbody");
      for (const item of list) {
        if (shown++ >= limit) break;
        tbody.append(row(item));
      }
      table.append(head, tbody);
      section.append(h, table);
      out.append(section);
    }
    services.replaceChildren(out);
    $("n-services").textContent = groups.size;
    $("n-alive").textContent = alive;
    $("n-dead").textContent = items.length - alive;
    $("empty").hidden = items.length > 0;
    const more = $("more");
    more.hidden = items.length <= limit;
    more.textContent = "Showing " + limit + " of " + items.length +
                       " instances: narrow the filter to see the others.";
    document.title = "servreg \u00b7 " + alive + " alive";
  }

  function showStatus() {
    status.classList.toggle("error", failure !== null);
    if (failure !== null) {
      status.textContent = failure;
    } else if (updated !== null) {
      status.textContent = "Live \u00b7 updated " + ago(Date.now() - updated) +
                           (live ? " \u00b7 changes shown as they happen"
                                 : " \u00b7 refreshes every " + refreshMs / 1000 + " s");
    }
  }

  function tick() {
    const now = Date.now() + skew;
    for (const td of services.querySelectorAll("td[data-last]")) {
      td.textContent = ago(now - Number(td.dataset.last));
    }
    showStatus();
  }

  async function refresh() {
    const mine = ++sequence;
    const call = {jsonrpc: "2.0", method: "list_services", params: [pattern()], id: mine};
    try {
      const reply = await fetch("api", {
        method: "POST", cache: "no-store",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(call)
      }).then((r) => r.json());
      if (mine !== sequence) return;  // a newer refresh is under way
      if (reply.error) {
        const why = reply.error.data || reply.error.message;
        failure = "Filter " + JSON.stringify(pattern()) + ": " + why;
        services.replaceChildren();
        $("empty").hidden = true;
        $("more").hidden = true;
      } else {
        failure = null;
        updated = Date.now();
        render(reply.result);
      }
    } catch (e) {
      if (mine !== sequence) return;
      failure = "Cannot reach the registry; retrying every " + refreshMs / 1000 + " s.";
    }
    showStatus();
    try {
      const health = await fetch("health", {cache: "no-store"}).then((r) => r.json());
      const db = $("db");
      const ok = health.status === "ok";
      db.classList.toggle("bad", !ok);
      db.textContent = ok ? "database ok" : "database unavailable: " + (health.reason || "");
    } catch (e) {
      // the registry itself is unreachable: already said
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => { if (!document.hidden) refresh(); }, refreshMs);
  }

  // One list_services at a time for the stream's events, and one more after it when events
  // came meanwhile: a burst of changes costs two refreshes, not one each.
  async function changed() {
    wanted = true;
    if (busy || document.hidden) return;
    busy = true;
    try {
      while (wanted) {
        wanted = false;
        await refresh();
      }
    } finally {
      busy = false;
    }
  }

  function watch() {
    if (stream) stream.close();
    stream = null;
    live = false;
    watching = pattern();
    if (!window.EventSource) return;
    stream = new EventSource("v1/watch?name=" + encodeURIComponent(watching));
    const mine = stream;
    let broken = false;
    // The browser reconnects by itself, sending Last-Event-ID: the registry then sends nothing
    // unless the answer changed, so a reconnection refreshes once, for what else changed and
    // for the error that the periodic refresh may be showing meanwhile.
    stream.addEventListener("open", () => {
      live = true;
      if (broken) changed();
      broken = false;
      showStatus();
    });
    stream.addEventListener("instances", () => { live = true; changed(); });
    stream.addEventListener("error", () => {
      if (mine !== stream) return;
      broken = true;
      live = false;
      showStatus();
    });
  }

  // Typing, the search field's clear button, and a value set otherwise (an autofill, a
  // WebDriver clear) that only fires change: each filters anew, once it has settled.
  let typing = null;
  for (const event of ["input", "search", "change"]) {
    input.addEventListener(event, () => {
      clearTimeout(typing);
      typing = setTimeout(() => {
        if (watching === pattern()) return;
        refresh();
        schedule();
        watch();
      }, 250);
    });
  }
  $("filter").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    history.replaceState(null, "", q ? "?q=" + encodeURIComponent(q) : location.pathname);
    refresh();
    schedule();
    watch();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  setInterval(tick, 1000);
  refresh();
  schedule();
  watch();
})();
