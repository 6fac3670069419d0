// The monitor page's script: live values, logs and alarms from /monitor/events, the
// command line and the buttons through POST /monitor/command, and plot ranges.
// Plain browser JavaScript with no library, served by the monitor so the page works
// offline. Device text only ever reaches the page through textContent, never as markup.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const TOKEN_KEY = "labwire-token";
  // With a token, every route but the page needs it: the event stream and the plot images
  // cannot send a header, so the page keeps it in this cookie (templates/README.md).
  const TOKEN_COOKIE = "labwire_token";
  const MAX_LOGS = 200;
  const tokenRequired = document.body.dataset.tokenRequired === "1";
  // Served without the token, the page holds none of the lab's state: it reloads once the
  // cookie is set, so that the server renders it whole.
  const locked = document.body.dataset.locked === "1";

  // ---- values -------------------------------------------------------------------------

  // Elements showing each "<client>.<key>", looked up once.
  const shown = new Map();
  function elementsOf(name) {
    let found = shown.get(name);
    if (!found) {
      found = $$(`[data-var="${CSS.escape(name)}"]`);
      if (found.length) shown.set(name, found);
    }
    return found;
  }

  const isOn = (v) => v === "1" || v === "true" || v === "on";

  function show(el, value) {
    switch (el.dataset.format) {
      case "onoff":
        el.textContent = isOn(value) ? "on" : "off";
        el.classList.toggle("on", isOn(value));
        el.classList.toggle("off", !isOn(value));
        return;
      case "trip":
        el.textContent = isOn(value) ? "tripped" : "ok";
        el.classList.toggle("bad", isOn(value));
        el.classList.toggle("good", !isOn(value));
        return;
      case "sci": {
        const x = Number(value);
        el.textContent = value !== "" && Number.isFinite(x) ? x.toExponential(2) : value;
        el.title = value;
        return;
      }
      default:
        if (el.dataset.digits) {
          // Readings to the instrument's resolution; the daemon's own text on hover.
          const x = Number(value);
          el.textContent =
            value !== "" && Number.isFinite(x) ? x.toFixed(Number(el.dataset.digits)) : value;
          el.title = value;
        } else {
          el.textContent = value;
        }
    }
  }

  // A changed value glows briefly; one that changes at every poll not more than every 5 s.
  const flashed = new WeakMap();
  function flash(el) {
    const now = Date.now();
    if (!el.animate || now - (flashed.get(el) || 0) < 5000) return;
    flashed.set(el, now);
    el.animate([{ backgroundColor: "#fdf3c4" }, { backgroundColor: "transparent" }], 700);
  }

  function setVar(client, key, value, changed) {
    const name = `${client}.${key}`;
    let els = elementsOf(name);
    if (!els.length) els = addRow(client, key, name);
    for (const el of els) {
      show(el, value);
      // Switches and flags change colour already; a glow would hide it.
      if (changed && !el.dataset.format) flash(el);
    }
  }

  // A variable the page has not shown yet: a new row in its client's table.
  function addRow(client, key, name) {
    const table = $(`table[data-vars-of="${CSS.escape(client)}"]`);
    if (!table) return [];
    const skip = table.dataset.skip;
    if (skip && new RegExp(skip).test(key)) return [];
    const row = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = key;
    const td = document.createElement("td");
    td.dataset.var = name;
    row.append(th, td);
    table.tBodies[0].append(row);
    shown.set(name, [td]);
    return [td];
  }

  function setConnected(client, on) {
    for (const el of $$(`[data-conn="${CSS.escape(client)}"]`)) {
      el.classList.toggle("connected", on);
      el.classList.toggle("disconnected", !on);
      el.title = on ? "connected" : "disconnected";
      if (el.classList.contains("state")) el.textContent = el.title;
    }
    const block = $(`[data-client="${CSS.escape(client)}"]`);
    if (block) block.classList.toggle("offline", !on);
  }

  // ---- alarms and logs ----------------------------------------------------------------

  function span(cls, text) {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function commandButton(label, command) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.dataset.command = command;
    button.textContent = label;
    return button;
  }

  function renderStoreProblem(problem) {
    const line = $("#store-problem");
    line.textContent = problem ? `History: ${problem}` : "";
    line.hidden = !problem;
  }

  function renderAlarms(alarms) {
    const list = $("#alarms");
    list.replaceChildren(
      ...alarms.map((a) => {
        const li = document.createElement("li");
        li.className = `alarm ${a.active ? "active" : "cleared"}${a.acknowledged ? " acked" : ""}`;
        li.append(
          span("alarm-var", `${a.client}.${a.key}`),
          span("alarm-state", a.active ? a.state : `${a.state}, back in range`),
          span("alarm-value", a.value),
          ...(a.message ? [span("alarm-message", a.message)] : []),
          span("alarm-since", `since ${a.since}`),
        );
        if (!a.acknowledged) li.append(commandButton("Acknowledge", `ack ${a.client}.${a.key}`));
        return li;
      }),
    );
    $("#alarm-count").textContent = String(alarms.length);
    $("#no-alarms").hidden = alarms.length > 0;
    $("#ack-all").hidden = !alarms.some((a) => !a.acknowledged);
    $("#alarm-panel").classList.toggle("quiet", alarms.length === 0);
  }

  function addLog(entry) {
    const li = document.createElement("li");
    li.className = `level-${entry.level}`;
    const time = document.createElement("time");
    time.dateTime = entry.time;
    time.title = entry.time;
    time.textContent = entry.time.slice(11, 19);
    li.append(time, " ", span("source", entry.source), " ", span("message", entry.message));
    const logs = $("#logs");
    logs.prepend(li);
    while (logs.children.length > MAX_LOGS) logs.lastElementChild.remove();
  }

  // ---- live updates -------------------------------------------------------------------

  function live(state) {
    const el = $("#live");
    el.textContent = state ? "live" : "reconnecting…";
    el.classList.toggle("on", state);
  }

  let events = null;
  function listen() {
    if (events) events.close();
    events = new EventSource("/monitor/events");
    events.addEventListener("open", () => live(true));
    events.addEventListener("error", () => {
      live(false);
      // A refused stream (401) is not retried by the browser: the token is missing or wrong.
      if (events.readyState === EventSource.CLOSED && tokenRequired) askToken();
    });
    events.addEventListener("snapshot", (e) => {
      const snapshot = JSON.parse(e.data);
      for (const [client, state] of Object.entries(snapshot.clients)) {
        setConnected(client, state.connected);
        for (const [key, value] of state.vars) setVar(client, key, value, false);
      }
      renderAlarms(snapshot.alarms);
      renderStoreProblem(snapshot.store_problem);
    });
    events.addEventListener("status", (e) => {
      const update = JSON.parse(e.data);
      for (const [client, on] of Object.entries(update.connected)) setConnected(client, on);
      for (const [client, key, value] of update.vars) setVar(client, key, value, true);
    });
    events.addEventListener("log", (e) => addLog(JSON.parse(e.data)));
    events.addEventListener("alarms", (e) => renderAlarms(JSON.parse(e.data)));
    events.addEventListener("store", (e) => renderStoreProblem(JSON.parse(e.data).problem));
  }

  // ---- commands -----------------------------------------------------------------------

  const tokenInput = $("#token");
  function setTokenCookie(secret) {
    const value = secret ? encodeURIComponent(secret) : "";
    const expiry = secret ? "" : "; max-age=0";
    document.cookie = `${TOKEN_COOKIE}=${value}; path=/; SameSite=Strict${expiry}`;
  }
  function token() {
    if (tokenInput.value) {
      sessionStorage.setItem(TOKEN_KEY, tokenInput.value);
      setTokenCookie(tokenInput.value);
    }
    return sessionStorage.getItem(TOKEN_KEY) || "";
  }
  // A token typed in: the live view and the plots can start.
  tokenInput.addEventListener("change", () => {
    if (!tokenInput.value) return;
    token();
    if (locked) {
      location.reload();
      return;
    }
    listen();
    for (const img of $$(".plot img")) reload(img);
  });
  function askToken() {
    tokenInput.hidden = false;
    tokenInput.focus();
  }

  function showReply(line, text, ok) {
    const reply = $("#reply");
    reply.hidden = false;
    reply.className = `reply ${ok ? "ok" : "error"}`;
    reply.textContent = `> ${line}\n${text}`;
  }

  async function run(line) {
    const headers = { "Content-Type": "application/json" };
    if (tokenRequired) {
      const secret = token();
      if (!secret) {
        askToken();
        showReply(line, "This monitor needs its token: enter it, then run the command again.", false);
        return;
      }
      headers["X-Labwire-Token"] = secret;
    }
    let response;
    try {
      response = await fetch("/monitor/command", {
        method: "POST",
        headers,
        body: JSON.stringify({ command: line }),
        credentials: "same-origin",
      });
    } catch (err) {
      showReply(line, `The monitor did not answer: ${err}`, false);
      return;
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      setTokenCookie("");
      tokenInput.value = "";
      askToken();
    }
    if (!response.ok) {
      showReply(line, (await response.text()).trim(), false);
      return;
    }
    const reply = await response.json();
    showReply(line, reply.reply, reply.ok);
  }

  const history = [];
  let back = 0;
  const input = $("#command");
  $("#command-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const line = input.value.trim();
    if (!line) return;
    if (history[history.length - 1] !== line) history.push(line);
    back = 0;
    input.value = "";
    run(line);
  });
  input.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    back = Math.max(0, Math.min(history.length, back + (e.key === "ArrowUp" ? 1 : -1)));
    input.value = back ? history[history.length - back] : "";
    e.preventDefault();
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest("button[data-command]");
    if (button) run(button.dataset.command);
  });

  // Setpoint forms: a number goes into the form's command at {value}.
  const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form[data-command]");
    if (!form) return;
    e.preventDefault();
    const field = form.elements.value;
    const value = field.value.trim();
    const command = form.dataset.command;
    if (!NUMBER.test(value)) {
      showReply(command.replace("{value}", value || "?"), "Enter a number.", false);
      return;
    }
    field.value = "";
    run(command.replace("{value}", value));
  });

  // ---- plots --------------------------------------------------------------------------

  // Reload often enough to move by about a pixel column group, never more than every 10 s.
  const refreshMs = (span) => Math.min(600000, Math.max(10000, (span * 1000) / 240));
  let fetches = 0;

  // As wide as the plot's room on screen (up to its configured width), so that a narrow
  // screen gets an image drawn for it rather than a shrunken one with tiny text.
  function drawnWidth(img) {
    const room = Math.round(img.closest(".plot").clientWidth);
    return Math.max(200, Math.min(Number(img.dataset.width), room || Infinity));
  }

  function plotUrl(img) {
    const width = drawnWidth(img);
    const height = Number(img.dataset.height);
    img.dataset.drawn = String(width);
    fetches += 1;
    return `${img.dataset.base}?from=-${img.dataset.span}&width=${width}&height=${height}&t=${fetches}`;
  }

  // Swap in the new image once it has loaded, so a refresh never flashes empty.
  function reload(img) {
    const next = new Image();
    const url = plotUrl(img);
    img.dataset.loaded = String(Date.now());
    next.onload = () => {
      img.src = url;
    };
    next.src = url;
  }

  function visible(el) {
    const box = el.getBoundingClientRect();
    return box.bottom > -200 && box.top < window.innerHeight + 200;
  }

  for (const img of $$(".plot img")) {
    img.dataset.loaded = String(Date.now());
    img.dataset.drawn = img.dataset.width;
    if (drawnWidth(img) < Number(img.dataset.width)) img.src = plotUrl(img);
  }

  let resizing = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => {
      for (const img of $$(".plot img")) {
        if (Math.abs(drawnWidth(img) - Number(img.dataset.drawn)) > 40) reload(img);
      }
    }, 400);
  });

  document.addEventListener("click", (e) => {
    const button = e.target.closest(".ranges button[data-span]");
    if (!button) return;
    const figure = button.closest(".plot");
    for (const b of $$("button", figure)) b.classList.toggle("selected", b === button);
    const img = $("img", figure);
    img.dataset.span = button.dataset.span;
    reload(img);
  });

  setInterval(() => {
    if (document.hidden) return;
    const now = Date.now();
    for (const img of $$(".plot img")) {
      if (now - Number(img.dataset.loaded) >= refreshMs(Number(img.dataset.span)) && visible(img)) {
        reload(img);
      }
    }
  }, 5000);

  // ---- start --------------------------------------------------------------------------

  for (const el of $$('[data-format="sci"], [data-digits]')) show(el, el.textContent.trim());
  if (tokenRequired) {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) setTokenCookie(saved);
    if (!saved || locked) tokenInput.hidden = false;
  }
  listen();
})();
