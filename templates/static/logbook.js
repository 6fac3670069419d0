// The page as the lab's logbook, next to monitor.js (which passes every live log line on
// as a "labwire:log" event, and a changed alarm list as "labwire:alarms"):
// - the log: its lines (the latest from the page, then live), filtered by source, level
//   and above, text and from/to through /monitor/logs, older pages below; live lines
//   that match the filters join at the top while "live" is on and no `to` is set;
// - the alarm history: /monitor/alarms, filtered and paged, each alarm linked to the
//   plot of its variable around it (the raise marked);
// - the monitor's health: /monitor/runtime every few seconds; the heartbeat form runs
//   `set interval=` through monitor.js's command line.
// Plain browser JavaScript; device text only reaches the page through textContent.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const logs = $("#logs");
  const MAX_LIVE = 200; // lines kept while only live lines come in
  const LEVELS = ["debug", "info", "warning", "error"];

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function showError(el, text) {
    if (!el) return;
    el.textContent = text;
    el.hidden = !text;
  }

  // A form's non-empty fields as a query (`skip`: fields that are not filters).
  function queryOf(form, skip = []) {
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (!skip.includes(key) && String(value).trim()) query.set(key, String(value).trim());
    }
    return query;
  }

  async function fetchJson(url, error) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin" });
    } catch (err) {
      showError(error, `The monitor did not answer: ${err}`);
      return null;
    }
    if (!response.ok) {
      showError(error, (await response.text()).trim());
      return null;
    }
    showError(error, "");
    return response.json();
  }

  // ---- the log ------------------------------------------------------------------------

  function logItem(entry) {
    const li = document.createElement("li");
    li.className = `level-${entry.level}`;
    const time = document.createElement("time");
    time.dateTime = entry.time;
    time.title = entry.time;
    time.textContent = entry.time.slice(11, 19);
    li.append(time, " ", span("source", entry.source), " ", span("message", entry.message));
    return li;
  }

  const logForm = $("#log-filter");
  let filters = new URLSearchParams(); // as applied
  let pageQuery = null; // what the pages below came from; null: only the page's own lines
  let logNext = null;
  let paged = false; // older pages shown: live lines no longer push lines out

  function matches(entry) {
    const source = filters.get("source");
    if (source && entry.source !== source) return false;
    const level = filters.get("level");
    if (level && LEVELS.indexOf(entry.level) < LEVELS.indexOf(level)) return false;
    const text = filters.get("text");
    if (text && !entry.message.toLowerCase().includes(text.toLowerCase())) return false;
    return true;
  }

  document.addEventListener("labwire:log", (e) => {
    if (logForm && (!logForm.elements.tail.checked || filters.get("to"))) return;
    if (!matches(e.detail)) return;
    logs.prepend(logItem(e.detail));
    if (!paged) while (logs.children.length > MAX_LIVE) logs.lastElementChild.remove();
  });

  // A page of `pageQuery` below `before` (none: its first), after the lines shown or
  // instead of them.
  async function loadLogs(before, append) {
    const query = new URLSearchParams(pageQuery);
    query.set("limit", "100");
    if (before) query.set("before", String(before));
    const page = await fetchJson(`/monitor/logs?${query}`, $("#log-error"));
    if (!page) return;
    const items = page.logs.map(logItem);
    if (append) logs.append(...items);
    else logs.replaceChildren(...items);
    paged = append;
    logNext = page.next;
    $("#log-older").hidden = !page.more;
  }

  if (logForm) {
    logForm.addEventListener("submit", (e) => {
      e.preventDefault();
      filters = queryOf(logForm, ["tail"]);
      pageQuery = filters;
      const html = new URLSearchParams(filters);
      html.set("format", "html");
      $("#log-export").href = `/monitor/logs?${html}`;
      loadLogs(null, false);
    });
    $("#log-older").addEventListener("click", () => {
      if (pageQuery && logNext) {
        loadLogs(logNext, true);
        return;
      }
      // The page's own lines (and the live ones): the stored ones older than the oldest.
      const oldest = logs.lastElementChild?.querySelector("time")?.dateTime;
      pageQuery = new URLSearchParams(filters);
      if (oldest) pageQuery.set("to", ((Date.parse(oldest) - 1) / 1000).toFixed(3));
      loadLogs(null, true);
    });
    $("#log-older").hidden = logs.children.length === 0;
  }

  // ---- the alarm history --------------------------------------------------------------

  const alarmForm = $("#alarm-filter");
  let alarmQuery = new URLSearchParams();
  let alarmNext = null;

  function alarmRow(a) {
    const row = document.createElement("tr");
    row.className = a.cleared ? "cleared" : "active";
    const cell = (text, title) => {
      const td = document.createElement("td");
      td.textContent = text === null || text === undefined ? "" : String(text);
      if (title) td.title = title;
      return td;
    };
    const short = (time) => (time ? time.replace("T", " ").replace(/\.\d+Z$/, "Z") : "");
    const plot = document.createElement("td");
    if (a.plot) {
      const link = document.createElement("a");
      link.href = a.plot;
      link.textContent = "plot";
      link.className = "alarm-plot";
      link.target = "_blank";
      plot.append(link);
    }
    row.append(
      cell(a.variable, a.message || ""),
      cell(a.message ? `${a.state}: ${a.message}` : a.state),
      cell(a.value),
      cell(short(a.raised), a.raised),
      cell(short(a.acknowledged), a.acknowledged),
      cell(short(a.cleared), a.cleared),
      plot,
    );
    return row;
  }

  async function loadAlarms(before) {
    const query = new URLSearchParams(alarmQuery);
    query.set("limit", "20");
    if (before) query.set("before", String(before));
    const page = await fetchJson(`/monitor/alarms?${query}`, $("#alarm-error"));
    if (!page) return;
    const rows = page.alarms.map(alarmRow);
    const body = $("#alarm-rows");
    if (before) body.append(...rows);
    else body.replaceChildren(...rows);
    alarmNext = page.next;
    $("#alarm-older").hidden = !page.more;
    $("#alarm-none").hidden = body.children.length > 0;
  }

  if (alarmForm) {
    alarmForm.addEventListener("submit", (e) => {
      e.preventDefault();
      alarmQuery = queryOf(alarmForm);
      const html = new URLSearchParams(alarmQuery);
      html.set("format", "html");
      $("#alarm-export").href = `/monitor/alarms?${html}`;
      loadAlarms(null);
    });
    $("#alarm-older").addEventListener("click", () => loadAlarms(alarmNext));
    // A changed alarm list: the history's first page again, once the store has it (it
    // commits every two seconds).
    let waiting = 0;
    document.addEventListener("labwire:alarms", () => {
      if (alarmQuery.get("to")) return;
      clearTimeout(waiting);
      waiting = setTimeout(() => loadAlarms(null), 2500);
    });
    loadAlarms(null);
  }

  // ---- the monitor's health -----------------------------------------------------------

  const runtime = $("#runtime");
  function duration(seconds) {
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }
  const bytes = (n) => (n === null || n === undefined ? "" : n < 1e6 ? `${(n / 1e3).toFixed(1)} kB` : `${(n / 1e6).toFixed(1)} MB`);

  function showRuntime(r) {
    const set = (key, text) => {
      const el = $(`[data-runtime="${key}"]`, runtime);
      if (el) el.textContent = text;
    };
    set("uptime", duration(r.uptime_seconds));
    set("polls_per_second", r.polls_per_second.toFixed(1));
    set("connected", `${r.connected} of ${r.clients}`);
    set("busy", String(r.web.busy_total));
    const s = r.store;
    if (s) {
      set("queued", `${s.queued} of ${s.queue_capacity}`);
      set("dropped", String(s.samples_dropped_total + s.records_dropped_total));
      set("write_errors", String(s.write_errors_total));
      set("database", bytes(s.database_bytes));
      set("heartbeat", `${s.heartbeat_seconds} s`);
    }
  }

  async function loadRuntime() {
    if (document.hidden) return;
    const r = await fetchJson("/monitor/runtime", null);
    if (r) showRuntime(r);
  }
  if (runtime) {
    loadRuntime();
    setInterval(loadRuntime, 5000);
    // A new heartbeat shows as soon as the command has run.
    runtime.addEventListener("submit", () => setTimeout(loadRuntime, 500));
  }
})();
