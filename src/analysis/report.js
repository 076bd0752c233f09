// The interactive part of an outerloop report: the whole ancestry (zoom, pan, hover,
// click for the genome and its diff against the primary parent), the optimisation
// history, progress with its spread and the champion's inner-loop configs. Reads the
// JSON in #explorer-data; no libraries, no network.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const data = JSON.parse(document.getElementById("explorer-data").textContent);
  const root = document.getElementById("explorer");
  const tooltip = document.getElementById("tooltip");
  const byId = new Map(data.nodes.map((n) => [n.id, n]));

  function el(tag, attrs, parent) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else e.setAttribute(k, v);
    }
    if (parent) parent.appendChild(e);
    return e;
  }
  const fmt = (x) => (x === null || x === undefined ? "-" : (x >= 0 ? "+" : "") + x.toFixed(3));
  const fitness = (n) => (n.verified !== null ? n.verified : n.claimed);

  // Diverging colour: red below 0, grey at 0, blue above; unevaluated nodes white.
  const extent = Math.max(1e-9, ...data.nodes.map((n) => Math.abs(fitness(n) ?? 0)));
  function colour(v) {
    if (v === null || v === undefined) return "#ffffff";
    const t = Math.max(-1, Math.min(1, v / extent));
    const mix = (a, b) => Math.round(a + (b - a) * Math.abs(t));
    return t >= 0 ? `rgb(${mix(200, 33)},${mix(200, 102)},${mix(200, 172)})` : `rgb(${mix(200, 178)},${mix(200, 24)},${mix(200, 43)})`;
  }

  el("h2", { text: `Explore run ${data.run}: ${data.nodes.length} mechanisms, ${data.ticks} ticks` }, root);
  for (const note of data.notes) el("p", { class: "ex-note", text: note }, root);
  el("p", {
    class: "ex-note",
    text: "Lineage: columns are birth ticks; colour is verified fitness (claimed when unverified; red below the reference, blue above, white unevaluated), size the number of evaluations; the champion has a black ring. Scroll to zoom, drag to pan, hover for details, click for the genome and its diff against the primary parent.",
  }, root);

  // ---- Lineage ---------------------------------------------------------------------
  const row = el("div", { class: "ex-row" }, root);
  const left = el("div", { class: "ex-panel", style: "flex:2 1 560px" }, row);
  const info = el("div", { class: "ex-panel", id: "node-info" }, row);
  el("p", { class: "ex-note", text: "Click a mechanism to see its genome." }, info);
  const view = svg("svg", { id: "lineage-view" }, left);
  const world = svg("g", {}, view);
  const columns = new Map();
  for (const n of data.nodes) {
    if (!columns.has(n.tick)) columns.set(n.tick, []);
    columns.get(n.tick).push(n);
  }
  const ticks = [...columns.keys()].sort((a, b) => a - b);
  // Column spacing that keeps the drawing about 1.5 times as wide as it is tall.
  const tallest = Math.max(1, ...[...columns.values()].map((c) => c.length));
  const dx = Math.max(8, Math.min(60, (1.5 * (40 + tallest * 22)) / Math.max(1, ticks.length)));
  const colX = new Map(ticks.map((t, i) => [t, 30 + i * dx]));
  const pos = new Map();
  let height = 0;
  for (const t of ticks) {
    const col = columns.get(t).sort((a, b) => a.id - b.id);
    col.forEach((n, i) => pos.set(n.id, [colX.get(t), 30 + i * 22]));
    height = Math.max(height, 30 + col.length * 22);
  }
  const width = 60 + ticks.length * dx;
  for (const e of data.edges) {
    const a = pos.get(e.source), b = pos.get(e.target);
    if (!a || !b) continue;
    svg("line", {
      x1: a[0], y1: a[1], x2: b[0], y2: b[1],
      stroke: e.rank === 0 ? "#777" : "#bbb", "stroke-width": e.rank === 0 ? 1.2 : 0.8,
      "stroke-dasharray": e.rank === 0 ? "" : "3,2", class: "lineage-edge",
    }, world);
  }
  function showTip(ev, n) {
    tooltip.style.display = "block";
    tooltip.style.left = ev.clientX + 12 + "px";
    tooltip.style.top = ev.clientY + 12 + "px";
    tooltip.textContent = `#${n.id} tick ${n.tick} · ${n.agent} ${n.operator}${n.diagnosis ? " (" + n.diagnosis + ")" : ""} · claimed ${fmt(n.claimed)} · verified ${fmt(n.verified)} · ${n.evaluations} evaluations · ${n.status}`;
  }
  for (const n of data.nodes) {
    const [x, y] = pos.get(n.id);
    const c = svg("circle", {
      cx: x, cy: y, r: 3 + 1.5 * Math.sqrt(Math.min(n.evaluations, 25)), fill: colour(fitness(n)),
      stroke: n.id === data.champion ? "#000" : "#555", "stroke-width": n.id === data.champion ? 3 : 0.8,
      class: "lineage-node", "data-id": n.id, tabindex: 0,
    }, world);
    c.addEventListener("mousemove", (ev) => showTip(ev, n));
    c.addEventListener("mouseleave", () => (tooltip.style.display = "none"));
    c.addEventListener("click", () => select(n.id));
  }
  // Zoom and pan through the viewBox.
  let box = [0, 0, Math.max(width, 200), Math.max(height, 200)];
  const apply = () => view.setAttribute("viewBox", box.join(" "));
  apply();
  view.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = view.getBoundingClientRect();
    const fx = (ev.clientX - r.left) / r.width, fy = (ev.clientY - r.top) / r.height;
    const k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
    const [x, y, w, h] = box;
    box = [x + fx * w * (1 - k), y + fy * h * (1 - k), w * k, h * k];
    apply();
  }, { passive: false });
  let drag = null;
  view.addEventListener("mousedown", (ev) => (drag = [ev.clientX, ev.clientY, box[0], box[1]]));
  window.addEventListener("mouseup", () => (drag = null));
  window.addEventListener("mousemove", (ev) => {
    if (!drag) return;
    const r = view.getBoundingClientRect();
    box[0] = drag[2] - ((ev.clientX - drag[0]) * box[2]) / r.width;
    box[1] = drag[3] - ((ev.clientY - drag[1]) * box[3]) / r.height;
    apply();
  });

  // Line diff (longest common subsequence) of a parent's genome and a child's.
  function diff(a, b) {
    const x = a.split("\n"), y = b.split("\n");
    const m = x.length, n = y.length;
    const L = Array.from({ length: m + 1 }, () => new Array(n + 1).fill(0));
    for (let i = m - 1; i >= 0; i--)
      for (let j = n - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    const out = [];
    let i = 0, j = 0;
    while (i < m || j < n) {
      if (i < m && j < n && x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
      else if (i < m && (j === n || L[i + 1][j] >= L[i][j + 1])) { out.push(["-", x[i]]); i++; }
      else { out.push(["+", y[j]]); j++; }
    }
    return out;
  }
  function select(id) {
    const n = byId.get(id);
    if (!n) return;
    info.innerHTML = "";
    el("h3", { text: `Mechanism #${n.id}${n.id === data.champion ? " (champion)" : ""}` }, info);
    el("p", {
      text: `Born at tick ${n.tick} by the ${n.agent} (${n.operator}${n.diagnosis ? ", diagnosis " + n.diagnosis : ""}); claimed ${fmt(n.claimed)}, verified ${fmt(n.verified)}, ${n.evaluations} evaluations, ${n.status}.`,
    }, info);
    el("h4", { text: "Genome" }, info);
    el("pre", { id: "genome", text: n.genome }, info);
    const parent = n.parent !== null ? byId.get(n.parent) : null;
    el("h4", { text: parent ? `Diff against primary parent #${parent.id}` : "No parent (a seed)" }, info);
    if (parent) {
      const pre = el("pre", { id: "genome-diff" }, info);
      for (const [tag, line] of diff(parent.genome, n.genome)) {
        const span = el("span", { class: tag === "+" ? "diff-add" : tag === "-" ? "diff-del" : "", text: `${tag} ${line}\n` }, pre);
        span.dataset.tag = tag;
      }
    }
    for (const c of world.querySelectorAll(".lineage-node")) c.setAttribute("opacity", c.dataset.id == id ? 1 : 0.85);
  }

  // ---- Small charts ------------------------------------------------------------------
  function chart(parent, title, xs, ys, draw, xLabel, yLabel) {
    const W = 480, H = 260, L = 52, R = 10, T = 24, B = 36;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", class: "ex-chart" }, parent);
    svg("text", { x: W / 2, y: 15, "text-anchor": "middle", "font-size": 13, text: title }, s);
    const finite = (v) => v.filter((z) => z !== null && Number.isFinite(z));
    const [x0, x1] = [Math.min(...finite(xs)), Math.max(...finite(xs))];
    let [y0, y1] = [Math.min(...finite(ys)), Math.max(...finite(ys))];
    if (y0 === y1) { y0 -= 1; y1 += 1; }
    const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
    const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#000" }, s);
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, stroke: "#000" }, s);
    if (y0 < 0 && y1 > 0) svg("line", { x1: L, y1: sy(0), x2: W - R, y2: sy(0), stroke: "#999", "stroke-dasharray": "4,3" }, s);
    for (const v of [y0, (y0 + y1) / 2, y1]) svg("text", { x: L - 4, y: sy(v) + 4, "text-anchor": "end", "font-size": 10, text: v.toFixed(2) }, s);
    for (const v of [x0, (x0 + x1) / 2, x1]) svg("text", { x: sx(v), y: H - B + 14, "text-anchor": "middle", "font-size": 10, text: Number.isInteger(v) ? v : v.toFixed(1) }, s);
    svg("text", { x: (L + W) / 2, y: H - 4, "text-anchor": "middle", "font-size": 11, text: xLabel }, s);
    svg("text", { x: 12, y: (T + H - B) / 2, "text-anchor": "middle", "font-size": 11, transform: `rotate(-90 12 ${(T + H - B) / 2})`, text: yLabel }, s);
    draw(s, sx, sy);
    return s;
  }
  const row2 = el("div", { class: "ex-row" }, root);
  const hist = el("div", { class: "ex-panel" }, row2);
  if (data.history.length) {
    chart(hist, "optimisation history: every evaluation", data.history.map((h) => h.tick), data.history.map((h) => h.fitness), (s, sx, sy) => {
      for (const h of data.history) {
        const champ = h.id === data.champion;
        const dot = svg("circle", { cx: sx(h.tick), cy: sy(h.fitness), r: champ ? 4 : 2.5, fill: h.kind === "verify" ? "#2166ac" : "#aaa", stroke: champ ? "#000" : "none", class: "history-point" }, s);
        dot.addEventListener("click", () => select(h.id));
      }
    }, "tick", "fitness (grey: claims, blue: verifications)");
  }
  const prog = el("div", { class: "ex-panel" }, row2);
  const pts = data.progress.filter((p) => p[1] !== null);
  if (pts.length) {
    const ys = pts.flatMap((p) => [p[1], p[2], p[3]]);
    chart(prog, "verified fitness of the living population", pts.map((p) => p[0]), ys, (s, sx, sy) => {
      const band = pts.filter((p) => p[3] !== null);
      if (band.length) {
        const d = band.map((p, i) => `${i ? "L" : "M"}${sx(p[0])},${sy(p[1])}`).join("") + band.slice().reverse().map((p) => `L${sx(p[0])},${sy(p[3])}`).join("") + "Z";
        svg("path", { d, fill: "#c6dbef", stroke: "none", class: "progress-band" }, s);
      }
      const line = (k, dash, w) => svg("path", { d: pts.filter((p) => p[k] !== null).map((p, i) => `${i ? "L" : "M"}${sx(p[0])},${sy(p[k])}`).join(""), fill: "none", stroke: "#08519c", "stroke-width": w, "stroke-dasharray": dash }, s);
      line(1, "", 2);
      line(2, "4,3", 1);
    }, "tick", "best (line), median (dashed), band: worst to best");
  }

  // ---- Parallel coordinates of the champion's inner-loop configs ------------------------
  const pc = el("div", {}, root);
  const k = data.knobs;
  if (k && !k.trials.length) {
    el("p", { class: "ex-note", text: `The champion tried no config on its fresh episode of ${k.task}.` }, pc);
  } else if (!k) {
    el("p", { class: "ex-note", text: "Parallel coordinates of the champion's inner-loop configs: made by `outerloop analyze` (it runs the champion on a fresh episode)." }, pc);
  } else {
    el("p", {
      class: "ex-note",
      text: k.gpt
        ? `The configs the champion's inner loop tried on one fresh episode of ${k.task}: one line per trial, one axis per GPT knob (bottom and top labels are the knob's range), the last axis the score (lower is better); darker lines scored better.`
        : `${k.task} is not a GPT task: the axes are its search space's dimensions, not GPT knobs. One line per trial the champion's inner loop tried on one fresh episode; darker lines scored better.`,
    }, pc);
    const W = 1000, H = 300, T = 30, B = 40;
    const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", id: "parallel-coordinates" }, pc);
    const n = k.axes.length + 1;
    const ax = (i) => 40 + (i * (W - 80)) / Math.max(1, n - 1);
    const scores = k.trials.map((t) => t[1]).filter(Number.isFinite);
    const [s0, s1] = [Math.min(...scores), Math.max(...scores)];
    const order = k.trials.map((t, i) => [t[1], i]).sort((a, b) => a[0] - b[0]).map((p) => p[1]);
    const rank = new Map(order.map((i, r) => [i, r]));
    k.trials.forEach((t, i) => {
      const y = (u) => H - B - u * (H - T - B);
      const us = [...t[0], s1 > s0 ? (t[1] - s0) / (s1 - s0) : 0.5];
      const shade = 60 + Math.round((190 * rank.get(i)) / Math.max(1, k.trials.length - 1));
      svg("polyline", { points: us.map((u, j) => `${ax(j)},${y(Math.max(0, Math.min(1, u)))}`).join(" "), fill: "none", stroke: `rgb(${shade},${shade},255)`, "stroke-opacity": 0.7 }, s);
    });
    [...k.axes, ["score", s0.toFixed(3), s1.toFixed(3)]].forEach((a, i) => {
      svg("line", { x1: ax(i), y1: T, x2: ax(i), y2: H - B, stroke: "#000" }, s);
      svg("text", { x: ax(i), y: T - 8, "text-anchor": "middle", "font-size": 11, text: a[0] }, s);
      svg("text", { x: ax(i), y: H - B + 14, "text-anchor": "middle", "font-size": 9, text: a[1] }, s);
      svg("text", { x: ax(i), y: T + 10, "text-anchor": "start", "font-size": 9, dx: 3, text: a[2] }, s);
    });
  }

  // Live view: reload when the run folder has a new checkpoint.
  if (data.live_version) {
    setInterval(() => {
      fetch("/version").then((r) => r.text()).then((v) => { if (v !== data.live_version) location.reload(); }).catch(() => {});
    }, 2000);
  }

  // A link to one mechanism (`#select=ID`) opens it, like a click on its node.
  const m = /select=(\d+)/.exec(location.hash);
  if (m) {
    const target = world.querySelector(`.lineage-node[data-id="${m[1]}"]`);
    if (target) target.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  }
})();
