// The monitor page's script: live values, logs and alarms from /monitor/events, the
// command line and the buttons through POST /monitor/command, and plot ranges (zooming,
// CSV downloads, the plot builder and the state at a time are archive.js's; the log's
// lines, filters and pages, the alarm history and the monitor's health logbook.js's).
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
      case "alarm":
        el.textContent = isOn(value) ? (el.dataset.format === "trip" ? "tripped" : "alarm") : "ok";
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

  // A log line as it comes: logbook.js shows it, or not, as the log's filters say.
  function addLog(entry) {
    document.dispatchEvent(new CustomEvent("labwire:log", { detail: entry }));
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
      readAllSteps();
    });
    events.addEventListener("status", (e) => {
      const update = JSON.parse(e.data);
      for (const [client, on] of Object.entries(update.connected)) setConnected(client, on);
      for (const [client, key, value] of update.vars) setVar(client, key, value, true);
    });
    events.addEventListener("log", (e) => addLog(JSON.parse(e.data)));
    events.addEventListener("alarms", (e) => {
      renderAlarms(JSON.parse(e.data));
      document.dispatchEvent(new CustomEvent("labwire:alarms"));
    });
    events.addEventListener("store", (e) => renderStoreProblem(JSON.parse(e.data).problem));
    events.addEventListener("frame", (e) => showFrame(JSON.parse(e.data)));
  }

  // ---- camera frames (ccd.html) -------------------------------------------------------

  const MAX_FRAME_ROWS = 20;
  const seconds = (x) => (x === null || x === undefined ? "" : String(x));

  // A frame the monitor just stored: the preview, caption and header of its camera's
  // block, and a row at the top of its list.
  function showFrame(f) {
    const figure = $(`[data-frame-of="${CSS.escape(f.client)}"]`);
    if (figure) {
      const link = $(".frame-link", figure);
      link.hidden = false;
      link.href = f.fits;
      link.download = f.file;
      const img = $(".frame-preview", figure);
      img.alt = `frame ${f.id} of ${f.client}`;
      img.src = f.png;
      const caption = $(".frame-caption", figure);
      caption.classList.remove("muted");
      caption.textContent = `#${f.id} · ${f.date_obs} · ${f.image_type} ${seconds(f.exposure)} s · ${f.object} · ${f.width}×${f.height}`;
      const header = $(".frame-header", figure);
      header.hidden = false;
      $("pre", header).textContent = (f.header || []).join("\n");
    }
    const table = $(`table[data-frames-of="${CSS.escape(f.client)}"]`);
    if (table) {
      const row = document.createElement("tr");
      const cell = (text) => {
        const td = document.createElement("td");
        td.textContent = text;
        return td;
      };
      const files = document.createElement("td");
      const fits = document.createElement("a");
      fits.href = f.fits;
      fits.download = f.file;
      fits.textContent = "FITS";
      const png = document.createElement("a");
      png.href = f.png;
      png.textContent = "PNG";
      files.append(fits, " ", png);
      row.append(
        cell(String(f.id)),
        cell(f.time.replace(/\.\d+Z$/, "Z")),
        cell(f.image_type),
        cell(seconds(f.exposure)),
        cell((f.size / 1e6).toFixed(1)),
        files,
      );
      const body = table.tBodies[0];
      body.prepend(row);
      while (body.rows.length > MAX_FRAME_ROWS) body.lastElementChild.remove();
    }
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

  // Run a monitor command and show its reply; resolves to the reply (or null). `quiet`:
  // only a failure is shown, and nothing is asked for (a read the page makes by itself).
  async function run(line, quiet = false) {
    const headers = { "Content-Type": "application/json" };
    if (tokenRequired) {
      const secret = token();
      if (!secret) {
        if (quiet) return null;
        askToken();
        showReply(line, "This monitor needs its token: enter it, then run the command again.", false);
        return null;
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
      return null;
    }
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      setTokenCookie("");
      tokenInput.value = "";
      askToken();
    }
    if (!response.ok) {
      showReply(line, (await response.text()).trim(), false);
      return null;
    }
    const reply = await response.json();
    // A reply with a text payload (`logs`) shows it under the line.
    const text = reply.payload ? `${reply.reply}\n${reply.payload}` : reply.reply;
    if (!quiet || !reply.ok) showReply(line, text, reply.ok);
    return reply;
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
    if (!form || form.matches(".profile-editor, .profile-start")) return;
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

  // ---- profile editors ----------------------------------------------------------------

  // A table of steps (time from the start, setpoint) in a form.profile-editor. Submitting
  // runs its data-command with {points} replaced by "0s:20,2h:-100,..." (only times like
  // 90m or 1.5h and numbers get in); "Read loaded" fills the table from the reply to its
  // data-read command (the daemon's profile_status, profile_points=). A form.profile-start
  // runs its data-command, with " at=<time>" when a UTC time is typed in its field.
  const STEP_TIME = /^(\d+\.?\d*|\.\d+)[smhd]$/;
  const UTC_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$/;

  function stepRows(form) {
    return $$("tbody tr", form);
  }

  function addStep(form, time = "", setpoint = "") {
    const rows = stepRows(form);
    const row = rows[rows.length - 1].cloneNode(true);
    row.querySelector('[name="time"]').value = time;
    row.querySelector('[name="setpoint"]').value = setpoint;
    rows[rows.length - 1].after(row);
    return row;
  }

  function fillSteps(form, points) {
    const rows = stepRows(form);
    for (const row of rows.slice(1)) row.remove();
    rows[0].querySelector('[name="time"]').value = "";
    rows[0].querySelector('[name="setpoint"]').value = "";
    points.split(",").filter(Boolean).forEach((point, i) => {
      const [time, setpoint] = point.split(/:(.*)/s);
      const row = i === 0 ? rows[0] : addStep(form);
      row.querySelector('[name="time"]').value = time;
      row.querySelector('[name="setpoint"]').value = setpoint || "";
    });
  }

  // `untouched`: only into a table nobody has typed in (the read when the page opens).
  async function readSteps(form, quiet, untouched = false) {
    const reply = await run(form.dataset.read, quiet);
    if (!reply || !reply.ok || typeof reply.kwargs.profile_points !== "string") return;
    if (untouched && $$("input", form).some((input) => input.value !== "")) return;
    fillSteps(form, reply.kwargs.profile_points);
  }

  document.addEventListener("click", (e) => {
    const button = e.target.closest(".profile-editor button[data-step]");
    if (!button) return;
    const form = button.closest("form");
    switch (button.dataset.step) {
      case "add":
        addStep(form).querySelector('[name="time"]').focus();
        break;
      case "remove": {
        const row = button.closest("tr");
        if (stepRows(form).length > 1) row.remove();
        else for (const input of $$("input", row)) input.value = "";
        break;
      }
      case "read":
        readSteps(form, false);
        break;
    }
  });

  document.addEventListener("submit", (e) => {
    const form = e.target.closest("form.profile-editor, form.profile-start");
    if (!form) return;
    e.preventDefault();
    const command = form.dataset.command;
    if (form.matches(".profile-start")) {
      const at = form.elements.at.value.trim();
      if (at && !UTC_TIME.test(at)) {
        showReply(`${command} at=${at}`, "Enter a UTC time such as 2026-12-24T08:00:00Z, or nothing for now.", false);
        return;
      }
      run(at ? `${command} at=${at}` : command);
      return;
    }
    const points = [];
    for (const [i, row] of stepRows(form).entries()) {
      const time = row.querySelector('[name="time"]').value.trim();
      const setpoint = row.querySelector('[name="setpoint"]').value.trim();
      if (!time && !setpoint) continue;
      if (!STEP_TIME.test(time) || !NUMBER.test(setpoint)) {
        showReply(command.replace("{points}", "?"), `Step ${i + 1}: enter a time from the start such as 0s, 90m, 2h or 3d, and a setpoint number.`, false);
        return;
      }
      points.push(`${time}:${setpoint}`);
    }
    if (!points.length) {
      showReply(command.replace("{points}", "?"), "Enter at least one step (the first at 0s).", false);
      return;
    }
    run(command.replace("{points}", points.join(","))).then((reply) => {
      if (reply && reply.ok) readSteps(form, true);
    });
  });

  // The loaded profiles fill their tables once the live stream has opened (so the token,
  // if one is needed, is known).
  let stepsRead = false;
  function readAllSteps() {
    if (stepsRead) return;
    stepsRead = true;
    for (const form of $$("form.profile-editor[data-read]")) readSteps(form, true, true);
  }

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

  // The last `span` seconds; or the range in data-from/data-to (set by a zoom or the plot
  // builder, archive.js; a fixed range when data-to is set, else one that ends now).
  function plotUrl(img) {
    const width = drawnWidth(img);
    const height = Number(img.dataset.height);
    img.dataset.drawn = String(width);
    fetches += 1;
    const { from, to } = img.dataset;
    const range = from
      ? `from=${encodeURIComponent(from)}${to ? `&to=${encodeURIComponent(to)}` : ""}`
      : `from=-${img.dataset.span}`;
    const join = img.dataset.base.includes("?") ? "&" : "?";
    return `${img.dataset.base}${join}${range}&width=${width}&height=${height}&t=${fetches}`;
  }

  // Swap in the new image once it has loaded, so a refresh never flashes empty. The
  // image says how it went (labwire:plot-loaded, labwire:plot-failed with the URL).
  function reload(img) {
    if (!img.dataset.base) return;
    const next = new Image();
    const url = plotUrl(img);
    img.dataset.loaded = String(Date.now());
    const tell = (name) => img.dispatchEvent(new CustomEvent(name, { bubbles: true, detail: url }));
    next.onload = () => {
      img.src = url;
      tell("labwire:plot-loaded");
    };
    next.onerror = () => tell("labwire:plot-failed");
    next.src = url;
  }
  // A plot whose range or variables changed elsewhere (archive.js) asks to be drawn again.
  document.addEventListener("labwire:replot", (e) => reload(e.target));

  function visible(el) {
    const box = el.getBoundingClientRect();
    return box.bottom > -200 && box.top < window.innerHeight + 200;
  }

  for (const img of $$(".plot img[data-base]")) {
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
    // Back from a zoom to the live range.
    delete img.dataset.from;
    delete img.dataset.to;
    reload(img);
  });

  setInterval(() => {
    if (document.hidden) return;
    const now = Date.now();
    for (const img of $$(".plot img")) {
      // A zoomed plot shows a range that is over: it does not change.
      if (img.dataset.to) continue;
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
