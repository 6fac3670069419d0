// The page's views of the past, next to monitor.js (which draws and refreshes every
// `.plot img` and is asked to with a "labwire:replot" event):
// - zoom: drag across any plot to see that range (the PNG says where its plot area is, in
//   its "labwire-plot-area" text chunk); "Back to live" returns to the live range;
// - CSV: the link under each plot downloads what it shows, from /monitor/history;
// - the plot builder: any stored variables (/monitor/variables to search them,
//   /monitor/plot?var=... to draw them), its state in the page URL (var, from, to, yscale);
// - the state at a time: /monitor/status?at=, every variable as it was then, each linked
//   to a plot around the moment with the moment marked (the page URL's `at`).
// Plain browser JavaScript; device text only reaches the page through textContent.
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
  const builder = $("#plot-builder");
  if (!builder) return; // the locked page has no views of the past

  // ---- the page URL -------------------------------------------------------------------

  const pageQuery = () => new URLSearchParams(location.search);
  function setPageQuery(change) {
    const query = pageQuery();
    change(query);
    const text = query.toString();
    history.replaceState(null, "", `${location.pathname}${text ? `?${text}` : ""}${location.hash}`);
  }

  // ---- where a plot's area is ---------------------------------------------------------

  // The "labwire-plot-area" tEXt chunk of the PNG at `url`: {left, right, x0, x1, ...}.
  async function areaOf(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return null;
    const bytes = new Uint8Array(await response.arrayBuffer());
    const view = new DataView(bytes.buffer);
    let at = 8; // the signature
    while (at + 12 <= bytes.length) {
      const length = view.getUint32(at);
      const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
      if (type === "IDAT" || type === "IEND") break; // text chunks come before the pixels
      if (type === "tEXt") {
        const data = bytes.subarray(at + 8, at + 8 + length);
        const nul = data.indexOf(0);
        const keyword = String.fromCharCode(...data.subarray(0, nul));
        if (keyword === "labwire-plot-area") {
          const area = {};
          for (const pair of String.fromCharCode(...data.subarray(nul + 1)).split(" ")) {
            const [key, value] = pair.split("=");
            area[key] = Number(value);
          }
          return area;
        }
      }
      at += 12 + length;
    }
    return null;
  }

  // ---- zoom by dragging ---------------------------------------------------------------

  const MIN_DRAG = 6; // pixels: less is a click
  let drag = null;

  function band(figure) {
    let el = $(".zoom-band", figure);
    if (!el) {
      el = document.createElement("div");
      el.className = "zoom-band";
      figure.append(el);
    }
    return el;
  }

  function showBand(d, x) {
    const img = d.img;
    const left = Math.min(d.start, x);
    Object.assign(d.band.style, {
      left: `${img.offsetLeft + left}px`,
      top: `${img.offsetTop}px`,
      width: `${Math.abs(x - d.start)}px`,
      height: `${img.offsetHeight}px`,
    });
    d.band.hidden = false;
  }

  const within = (img, clientX) => {
    const box = img.getBoundingClientRect();
    return Math.max(0, Math.min(box.width, clientX - box.left));
  };

  document.addEventListener("pointerdown", (e) => {
    const img = e.target.closest(".plot img");
    if (!img || e.button !== 0 || !img.complete || !img.naturalWidth) return;
    e.preventDefault();
    const start = within(img, e.clientX);
    drag = { img, start, band: band(img.closest(".plot")), area: areaOf(img.currentSrc || img.src) };
    img.setPointerCapture?.(e.pointerId);
  });
  document.addEventListener("pointermove", (e) => {
    if (drag) showBand(drag, within(drag.img, e.clientX));
  });
  document.addEventListener("pointerup", async (e) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    d.band.hidden = true;
    const end = within(d.img, e.clientX);
    if (Math.abs(end - d.start) < MIN_DRAG) return;
    const area = await d.area;
    // Only a time axis has a range to ask for.
    if (!area || area.time !== 1 || !(area.right > area.left)) return;
    // From the image's size on screen to its pixels, to x values.
    const scale = d.img.naturalWidth / d.img.getBoundingClientRect().width;
    const toX = (px) => {
      const fraction = (px * scale - area.left) / (area.right - area.left);
      return area.x0 + Math.max(0, Math.min(1, fraction)) * (area.x1 - area.x0);
    };
    const [from, to] = [toX(Math.min(d.start, end)), toX(Math.max(d.start, end))];
    if (!(to > from)) return;
    zoom(d.img, from.toFixed(3), to.toFixed(3));
  });
  document.addEventListener("dragstart", (e) => {
    if (e.target.closest(".plot img")) e.preventDefault();
  });

  function zoom(img, from, to) {
    // The range to come back to, kept at the first zoom.
    if (!("liveFrom" in img.dataset)) {
      img.dataset.liveFrom = img.dataset.from || "";
      img.dataset.liveTo = img.dataset.to || "";
    }
    img.dataset.from = from;
    img.dataset.to = to;
    $(".plot-live", img.closest(".plot")).hidden = false;
    if (img === builderImg) followBuilderRange(from, to);
    replot(img);
  }

  function backToLive(img) {
    const { liveFrom, liveTo } = img.dataset;
    for (const key of ["from", "to", "liveFrom", "liveTo"]) delete img.dataset[key];
    if (liveFrom) img.dataset.from = liveFrom;
    if (liveTo) img.dataset.to = liveTo;
    $(".plot-live", img.closest(".plot")).hidden = true;
    if (img === builderImg) followBuilderRange(liveFrom || "", liveTo || "");
    replot(img);
  }

  document.addEventListener("click", (e) => {
    const live = e.target.closest(".plot .plot-live");
    if (live) backToLive($("img", live.closest(".plot")));
    // The range buttons (monitor.js) leave a zoom too.
    const range = e.target.closest(".plot .ranges button[data-span]");
    if (range) {
      const img = $("img", range.closest(".plot"));
      delete img.dataset.liveFrom;
      delete img.dataset.liveTo;
      $(".plot-live", img.closest(".plot")).hidden = true;
      setCsv(img);
    }
  });

  function replot(img) {
    setCsv(img);
    img.dispatchEvent(new CustomEvent("labwire:replot", { bubbles: true }));
  }

  // ---- CSV of what a plot shows -------------------------------------------------------

  function setCsv(img) {
    const link = $(".plot-csv", img.closest(".plot"));
    if (!link) return;
    const query = new URLSearchParams();
    for (const name of (img.dataset.vars || "").split(",").filter(Boolean)) query.append("var", name);
    query.set("from", img.dataset.from || `-${img.dataset.span}`);
    if (img.dataset.to) query.set("to", img.dataset.to);
    query.set("format", "csv");
    link.href = `/monitor/history?${query}`;
    link.download = `${(img.dataset.vars || "history").split(",")[0]}.csv`;
  }
  for (const img of $$(".plot img[data-vars]")) setCsv(img);

  // ---- the plot builder ---------------------------------------------------------------

  const MAX_VARS = 16;
  const builderImg = $("#builder-img");
  const search = $("#builder-search");
  const fromInput = $("#builder-from");
  const toInput = $("#builder-to");
  const yscaleInput = $("#builder-yscale");
  let chosen = [];
  let marker = "";

  function showError(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  function renderChosen() {
    $("#builder-chosen").replaceChildren(
      ...chosen.map((name) => {
        const li = document.createElement("li");
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "small";
        remove.dataset.remove = name;
        remove.setAttribute("aria-label", `remove ${name}`);
        remove.textContent = "×";
        li.append(name, remove);
        return li;
      }),
    );
    $("#builder-none").hidden = chosen.length > 0;
  }

  // Search results, a page at a time.
  let searched = { text: null, offset: 0 };
  async function findVariables(text, offset = 0) {
    searched = { text, offset };
    const query = new URLSearchParams({ search: text, offset: String(offset), limit: "50" });
    const response = await fetch(`/monitor/variables?${query}`, { credentials: "same-origin" });
    if (searched.text !== text || searched.offset !== offset) return; // typed on since
    if (!response.ok) {
      showError($("#builder-error"), (await response.text()).trim());
      return;
    }
    const page = await response.json();
    const items = page.variables.map((v) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.add = v.variable;
      const unit = document.createElement("span");
      unit.className = "unit";
      // Only a real unit: without one, the group is the name's last word.
      unit.textContent = v.axis !== v.unit ? v.unit : "";
      button.append(v.variable, unit);
      li.append(button);
      return li;
    });
    const list = $("#builder-matches");
    if (offset === 0) list.replaceChildren(...items);
    else list.append(...items);
    const more = $("#builder-more");
    more.hidden = !page.more;
    more.dataset.offset = String(offset + page.variables.length);
  }

  let typing = 0;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => findVariables(search.value.trim()), 200);
  });
  $("#builder-more").addEventListener("click", (e) =>
    findVariables(search.value.trim(), Number(e.target.dataset.offset)),
  );

  builder.addEventListener("click", (e) => {
    const add = e.target.closest("button[data-add]");
    if (add && !chosen.includes(add.dataset.add)) {
      if (chosen.length >= MAX_VARS) {
        showError($("#builder-error"), `At most ${MAX_VARS} variables in one plot.`);
        return;
      }
      chosen.push(add.dataset.add);
      draw();
    }
    const remove = e.target.closest("button[data-remove]");
    if (remove) {
      chosen = chosen.filter((name) => name !== remove.dataset.remove);
      draw();
    }
  });
  $("#builder-draw").addEventListener("click", () => draw());
  for (const input of [fromInput, toInput]) {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") draw();
    });
  }
  yscaleInput.addEventListener("change", () => draw());

  // A zoom of the builder's plot is its range from then on (and in its link).
  function followBuilderRange(from, to) {
    fromInput.value = from;
    toInput.value = to;
    saveBuilder();
  }

  function saveBuilder() {
    setPageQuery((query) => {
      for (const key of ["var", "from", "to", "yscale"]) query.delete(key);
      for (const name of chosen) query.append("var", name);
      if (chosen.length) {
        if (fromInput.value.trim()) query.set("from", fromInput.value.trim());
        if (toInput.value.trim()) query.set("to", toInput.value.trim());
        if (yscaleInput.value === "log") query.set("yscale", "log");
      }
    });
    $("#builder-link").href = location.href;
  }

  // How far back a relative `from` looks, for how often monitor.js redraws.
  const spanOf = (from) => (/^-\d+(\.\d+)?$/.test(from) ? String(-Number(from)) : "3600");

  function draw() {
    renderChosen();
    showError($("#builder-error"), "");
    saveBuilder();
    const figure = $("#builder-figure");
    if (!chosen.length) {
      figure.hidden = true;
      delete builderImg.dataset.base;
      return;
    }
    const query = new URLSearchParams();
    for (const name of chosen) query.append("var", name);
    query.set("yscale", yscaleInput.value);
    if (marker) query.set("at", marker);
    builderImg.dataset.base = `/monitor/plot?${query}`;
    builderImg.dataset.vars = chosen.join(",");
    const from = fromInput.value.trim() || "-3600";
    const to = toInput.value.trim();
    builderImg.dataset.from = from;
    if (to) builderImg.dataset.to = to;
    else delete builderImg.dataset.to;
    builderImg.dataset.span = spanOf(from);
    delete builderImg.dataset.liveFrom;
    delete builderImg.dataset.liveTo;
    $(".plot-live", figure).hidden = true;
    figure.hidden = false;
    replot(builderImg);
  }

  // A plot that could not be drawn says why (the route's 400 or 404 text).
  builderImg.addEventListener("labwire:plot-failed", async (e) => {
    const response = await fetch(e.detail, { credentials: "same-origin" });
    showError($("#builder-error"), response.ok ? "" : (await response.text()).trim());
  });
  builderImg.addEventListener("labwire:plot-loaded", () => showError($("#builder-error"), ""));

  // ---- the state at a time ------------------------------------------------------------

  const travelAt = $("#travel-at");
  const PAGE = 500;
  let travel = null; // {at, shown}

  function age(seconds) {
    if (seconds < 10) return `${seconds.toFixed(1)} s`;
    if (seconds < 120) return `${Math.round(seconds)} s`;
    if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
    return `${(seconds / 86400).toFixed(1)} d`;
  }

  // The page with a plot of `v` around the moment, the moment marked; wide enough to
  // show the sample the value came from.
  function plotLink(v, atUnix) {
    const half = Math.max(3600, v.age * 1.25);
    const query = new URLSearchParams();
    query.append("var", v.variable);
    query.set("from", (atUnix - half).toFixed(3));
    query.set("to", (atUnix + half).toFixed(3));
    query.set("at", String(atUnix));
    return `/?${query}#plot-builder`;
  }

  function tableOf(client) {
    const result = $("#travel-result");
    let table = $(`table[data-client="${CSS.escape(client)}"]`, result);
    if (!table) {
      table = document.createElement("table");
      table.dataset.client = client;
      table.createCaption().textContent = client;
      table.createTBody();
      result.append(table);
    }
    return table.tBodies[0];
  }

  function showValues(answer) {
    for (const v of answer.values) {
      const row = document.createElement("tr");
      const key = document.createElement("th");
      key.scope = "row";
      key.textContent = v.key;
      const value = document.createElement("td");
      value.className = "value";
      value.textContent = v.value === null ? "" : String(v.value);
      value.title = v.time;
      const old = document.createElement("td");
      old.className = "age";
      old.textContent = age(v.age);
      old.title = `stored ${v.time}`;
      const plot = document.createElement("td");
      const link = document.createElement("a");
      link.href = plotLink(v, answer.at_unix);
      link.textContent = "plot";
      link.className = "travel-plot";
      plot.append(link);
      row.append(key, value, old, plot);
      tableOf(v.client).append(row);
    }
  }

  async function loadTravel(offset) {
    const query = new URLSearchParams({ at: travel.at, offset: String(offset), limit: String(PAGE) });
    const response = await fetch(`/monitor/status?${query}`, { credentials: "same-origin" });
    if (!response.ok) {
      showError($("#travel-error"), (await response.text()).trim());
      return;
    }
    const answer = await response.json();
    if (offset === 0) $("#travel-result").replaceChildren();
    showValues(answer);
    travel.shown = offset + answer.values.length;
    const summary = $("#travel-summary");
    summary.hidden = false;
    summary.textContent = answer.values.length || offset
      ? `As stored at ${answer.at}: each variable's last value then, and how old it was.`
      : `Nothing was stored at or before ${answer.at}.`;
    $("#travel-more").hidden = !answer.more;
  }

  function openTravel(at) {
    showError($("#travel-error"), "");
    if (!at) {
      showError($("#travel-error"), "Enter a UTC time such as 2026-12-02T08:00:00Z, Unix seconds, or seconds back from now (-3600).");
      return;
    }
    travel = { at, shown: 0 };
    $("#travel-close").hidden = false;
    setPageQuery((query) => query.set("at", at));
    showMoment(at);
    loadTravel(0);
  }

  // The moment of the state shown is marked on the builder's plot.
  function showMoment(at) {
    if (marker === at) return;
    marker = at;
    if (chosen.length) draw();
  }

  $("#travel-form").addEventListener("submit", (e) => {
    e.preventDefault();
    openTravel(travelAt.value.trim());
  });
  $("#travel-more").addEventListener("click", () => loadTravel(travel.shown));
  $("#travel-close").addEventListener("click", () => {
    travel = null;
    $("#travel-result").replaceChildren();
    $("#travel-summary").hidden = true;
    $("#travel-more").hidden = true;
    $("#travel-close").hidden = true;
    showError($("#travel-error"), "");
    setPageQuery((query) => query.delete("at"));
    showMoment("");
  });

  // ---- start: the views the page URL asks for ------------------------------------------

  const start = pageQuery();
  chosen = start.getAll("var").slice(0, MAX_VARS);
  fromInput.value = start.get("from") || "";
  toInput.value = start.get("to") || "";
  yscaleInput.value = start.get("yscale") === "log" ? "log" : "linear";
  marker = start.get("at") || "";
  if (chosen.length) draw();
  else renderChosen();
  if (marker) {
    travelAt.value = marker;
    openTravel(marker);
  }
  findVariables("");
})();
