"use strict";
// The explore page: every event of a run on one canvas, drawn straight into a pixel buffer.
// Data: META (JSON) and typed arrays decoded from base64 <script> blocks (see page.py).
(function () {
const META = JSON.parse(document.getElementById("meta").textContent);
const N = META.n, K = META.k;
const $ = (id) => document.getElementById(id);

function blob(name, Type) {
  const el = $("b-" + name);
  if (!el) return null;
  const s = atob(el.textContent.trim());
  const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
  return new Type(u.buffer);
}
const X = blob("x", Float32Array), Y = blob("y", Float32Array), CL = blob("cl", Uint16Array);
const UNK = blob("unk", Uint8Array), PR = blob("pr", Uint16Array), LL = blob("ll", Float32Array);
const ST = blob("st", Uint16Array), T = blob("t", Float64Array), ROW = blob("row", Int32Array);
const TI = blob("ti", Int32Array), TP = blob("tp", Uint8Array), TW = blob("tw", Int8Array), TM = blob("tm", Uint8Array);
const thumbOf = new Map();
if (TI) for (let j = 0; j < TI.length; j++) thumbOf.set(TI[j], j);

const LUT = new Uint8Array(768);
for (let i = 0; i < 768; i++) LUT[i] = parseInt(META.lut.substr(2 * i, 2), 16);
const RGB = META.colours.map((c) => [1, 3, 5].map((o) => parseInt(c.substr(o, 2), 16)));
const names = META.names.map((s) => s || "");

// ---- served or file mode ------------------------------------------------------------------
let served = false;
function setMode() {
  const m = $("mode");
  if (served) {
    m.textContent = "served: every event's spectrogram read from the data file on demand";
  } else {
    m.textContent = META.thumbs >= N && N > 0
      ? "file: every event's thumbnail is embedded"
      : `file: thumbnails embedded for ${META.thumbs.toLocaleString()} of ${N.toLocaleString()} events ` +
        "(`gpuclust explore RUN_DIR --serve` shows any event)";
  }
}
if (location.protocol === "http:" && (location.hostname === "127.0.0.1" || location.hostname === "localhost")) {
  fetch("api/info").then((r) => r.ok ? r.json() : null).then((info) => {
    if (info && info.mode === "serve") { served = true; setMode(); }
  }).catch(() => {});
}

// ---- filters -------------------------------------------------------------------------------
const on = new Uint8Array(K).fill(1);
const visible = new Uint8Array(N);
const selected = new Uint8Array(N);
let nSelected = 0, nVisible = 0;
let tMin = Infinity, tMax = -Infinity, llMin = Infinity, llMax = -Infinity;
for (let i = 0; i < N; i++) {
  const t = T[i]; if (t === t) { if (t < tMin) tMin = t; if (t > tMax) tMax = t; }
  const l = LL[i]; if (l === l) { if (l < llMin) llMin = l; if (l > llMax) llMax = l; }
}
const F = { prob: 0, thr: META.threshold, t0: tMin, t1: tMax, known: true, unknown: true, stations: null };

function isUnknown(i) {
  // the run's flag, unless the threshold was moved: then the events below the page's threshold
  if (F.thr === META.threshold || !META.has_ll) return UNK[i] === 1;
  return LL[i] < F.thr;
}
function applyFilters() {
  nVisible = 0;
  const pmin = Math.round(F.prob * 65535);
  const timeOn = META.has_time && (F.t0 > tMin || F.t1 < tMax);
  for (let i = 0; i < N; i++) {
    let v = on[CL[i]] === 1;
    if (v) { const u = isUnknown(i); v = u ? F.unknown : F.known; }
    if (v && META.has_prob && PR[i] < pmin) v = false;
    if (v && timeOn) { const t = T[i]; v = t >= F.t0 && t <= F.t1; }
    if (v && F.stations) v = F.stations.has(ST[i]);
    visible[i] = v ? 1 : 0;
    nVisible += visible[i];
  }
  $("count").textContent = `${nVisible.toLocaleString()} of ${N.toLocaleString()} events shown`;
  $("count").dataset.visible = nVisible;
  draw(); linked();
}

// ---- view ----------------------------------------------------------------------------------
const canvas = $("scatter"), ctx = canvas.getContext("2d");
let W = 0, H = 0, img = null;
let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
for (let i = 0; i < N; i++) {
  if (X[i] < xMin) xMin = X[i]; if (X[i] > xMax) xMax = X[i];
  if (Y[i] < yMin) yMin = Y[i]; if (Y[i] > yMax) yMax = Y[i];
}
if (!(xMax > xMin)) { xMin -= 1; xMax += 1; }
if (!(yMax > yMin)) { yMin -= 1; yMax += 1; }
const view = { cx: 0, cy: 0, s: 1 };
function resetView() {
  view.cx = (xMin + xMax) / 2; view.cy = (yMin + yMax) / 2;
  view.s = 0.92 * Math.min(W / (xMax - xMin), H / (yMax - yMin));
}
function sx(i) { return (X[i] - view.cx) * view.s + W / 2; }
function sy(i) { return H / 2 - (Y[i] - view.cy) * view.s; }
function resize() {
  const box = $("plot").getBoundingClientRect();
  W = Math.max(50, Math.floor(box.width)); H = Math.max(50, Math.floor(box.height));
  canvas.width = W; canvas.height = H; img = ctx.createImageData(W, H);
}
const R = N > 200000 ? 1 : N > 20000 ? 1 : 2;  // point half-size in pixels
function dot(px, py, r, c, data, fade) {
  const x0 = Math.max(0, px - r), x1 = Math.min(W - 1, px + r), y0 = Math.max(0, py - r), y1 = Math.min(H - 1, py + r);
  const a = fade ? 0.18 : 1, cr = 255 - (255 - c[0]) * a, cg = 255 - (255 - c[1]) * a, cb = 255 - (255 - c[2]) * a;
  for (let y = y0; y <= y1; y++) {
    let o = (y * W + x0) * 4;
    for (let x = x0; x <= x1; x++, o += 4) { data[o] = cr; data[o + 1] = cg; data[o + 2] = cb; data[o + 3] = 255; }
  }
}
const BLACK = [0, 0, 0];
let pinned = -1, hovered = -1;
function draw() {
  if (!img) return;
  const d = img.data;
  d.fill(255);
  const fadeOthers = nSelected > 0;
  // known events first, then the unknowns (black, larger) on top, then the selection
  for (let pass = 0; pass < 3; pass++) {
    for (let i = 0; i < N; i++) {
      if (!visible[i]) continue;
      const u = isUnknown(i);
      if ((pass === 0 && u) || (pass === 1 && !u)) continue;
      if (pass === 2 && !selected[i]) continue;
      if (pass < 2 && fadeOthers && selected[i]) continue;
      const px = Math.round(sx(i)), py = Math.round(sy(i));
      if (px < -2 || py < -2 || px > W + 2 || py > H + 2) continue;
      dot(px, py, u && N <= 20000 ? R + 1 : R, u ? BLACK : RGB[CL[i]], d, fadeOthers && pass < 2);
    }
  }
  ctx.putImageData(img, 0, 0);
  const mark = pinned >= 0 ? pinned : hovered;
  if (mark >= 0) {
    ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.beginPath();
    ctx.arc(sx(mark), sy(mark), 7, 0, 2 * Math.PI); ctx.stroke();
  }
  if (lasso && lasso.length > 1) {
    ctx.strokeStyle = "#d32f2f"; ctx.lineWidth = 1; ctx.beginPath(); ctx.moveTo(lasso[0][0], lasso[0][1]);
    for (const p of lasso) ctx.lineTo(p[0], p[1]);
    ctx.stroke();
  }
}

// ---- nearest event: a grid over the map built once ------------------------------------------
const G = 256, cellStart = new Int32Array(G * G + 1), cellItems = new Int32Array(N);
function cellOf(i) {
  const gx = Math.min(G - 1, Math.floor((X[i] - xMin) / (xMax - xMin) * G));
  const gy = Math.min(G - 1, Math.floor((Y[i] - yMin) / (yMax - yMin) * G));
  return gy * G + gx;
}
(function buildGrid() {
  for (let i = 0; i < N; i++) cellStart[cellOf(i) + 1]++;
  for (let c = 0; c < G * G; c++) cellStart[c + 1] += cellStart[c];
  const fill = cellStart.slice(0, G * G);
  for (let i = 0; i < N; i++) cellItems[fill[cellOf(i)]++] = i;
})();
function nearest(px, py, radius) {
  const dx = (px - W / 2) / view.s + view.cx, dy = (H / 2 - py) / view.s + view.cy, r = radius / view.s;
  const gx0 = Math.max(0, Math.floor((dx - r - xMin) / (xMax - xMin) * G));
  const gx1 = Math.min(G - 1, Math.floor((dx + r - xMin) / (xMax - xMin) * G));
  const gy0 = Math.max(0, Math.floor((dy - r - yMin) / (yMax - yMin) * G));
  const gy1 = Math.min(G - 1, Math.floor((dy + r - yMin) / (yMax - yMin) * G));
  let best = -1, bd = r * r;
  for (let gy = gy0; gy <= gy1; gy++) for (let gx = gx0; gx <= gx1; gx++) {
    const c = gy * G + gx;
    for (let q = cellStart[c]; q < cellStart[c + 1]; q++) {
      const i = cellItems[q];
      if (!visible[i]) continue;
      const ex = X[i] - dx, ey = Y[i] - dy, dd = ex * ex + ey * ey;
      if (dd <= bd) { bd = dd; best = i; }
    }
  }
  return best;
}

// ---- the event panel -------------------------------------------------------------------------
function clusterLabel(j) { return names[j] ? `${j} · ${names[j]}` : String(j); }
function fmtTime(ms) { return ms === ms ? new Date(ms).toISOString().replace("T", " ").replace("Z", "") : "-"; }
function drawGrey(cv, pixels, h, w) {
  cv.width = w; cv.height = h;
  const c = cv.getContext("2d"), im = c.createImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    const v = pixels[p] * 3;
    im.data[4 * p] = LUT[v]; im.data[4 * p + 1] = LUT[v + 1]; im.data[4 * p + 2] = LUT[v + 2]; im.data[4 * p + 3] = 255;
  }
  c.putImageData(im, 0, 0);
}
function drawWave(env) {
  const cv = $("wave"), c = cv.getContext("2d");
  c.clearRect(0, 0, cv.width, cv.height);
  if (!env) return;
  const nb = env.length / 2, h = cv.height;
  c.strokeStyle = "#37474f"; c.beginPath();
  for (let b = 0; b < nb; b++) {
    const x = (b + 0.5) * cv.width / nb;
    c.moveTo(x, h / 2 - env[2 * b] / 127 * h / 2); c.lineTo(x, h / 2 - env[2 * b + 1] / 127 * h / 2 + 0.5);
  }
  c.stroke();
}
let shownRow = -1;
function show(i) {
  if (i < 0) return;
  const j = CL[i], u = isUnknown(i);
  $("f-cluster").textContent = clusterLabel(j) + (u ? " (unknown: below the novelty threshold)" : "");
  $("f-prob").textContent = META.has_prob ? (PR[i] / 65535).toFixed(4) : "-";
  $("f-ll").textContent = LL[i] === LL[i] ? LL[i].toFixed(3) : "-";
  $("f-station").textContent = META.stations[ST[i]] || "-";
  $("f-time").textContent = fmtTime(T[i]);
  $("f-row").textContent = ROW[i];
  $("fields").dataset.event = i;
  showMean(j);
  const t = thumbOf.get(i), cv = $("thumb"), note = $("thumb-note");
  shownRow = ROW[i];
  if (t !== undefined) {
    drawGrey(cv, TP.subarray(t * META.th * META.tw, (t + 1) * META.th * META.tw), META.th, META.tw);
    drawWave(TW ? TW.subarray(t * META.wave_len, (t + 1) * META.wave_len) : null);
    cv.dataset.row = ROW[i]; note.textContent = "embedded thumbnail";
  } else if (served) {
    note.textContent = "reading from the data file ...";
    const row = ROW[i];
    fetch(`api/thumb/${row}`).then((r) => r.json()).then((d) => {
      if (shownRow !== row) return;
      if (d.error) { note.textContent = d.error; return; }
      const px = Uint8Array.from(atob(d.pixels), (ch) => ch.charCodeAt(0));
      drawGrey(cv, px, d.h, d.w);
      drawWave(d.wave ? Int8Array.from(atob(d.wave), (ch) => (ch.charCodeAt(0) << 24) >> 24) : null);
      cv.dataset.row = row; note.textContent = "read from the data file";
    }).catch((e) => { note.textContent = "the server did not answer: " + e; });
  } else {
    const c = cv.getContext("2d"); c.clearRect(0, 0, cv.width, cv.height); drawWave(null);
    cv.dataset.row = "";
    note.textContent = "no thumbnail embedded for this event: `gpuclust explore RUN_DIR --serve` shows every event";
  }
}
function showMean(j) {
  $("mean-of").textContent = "cluster " + clusterLabel(j);
  if (TM) drawGrey($("mean"), TM.subarray(j * META.th * META.tw, (j + 1) * META.th * META.tw), META.th, META.tw);
}

// ---- linked views: counts over time and per station of the selection (or of what is shown) ----
function linked() {
  const useSel = nSelected > 0;
  $("set-name").textContent = useSel ? `(the ${nSelected.toLocaleString()} selected)` : "(every shown event)";
  const inSet = (i) => useSel ? selected[i] && visible[i] : visible[i];
  if (META.has_time) {
    const nb = 60, counts = new Float64Array(nb), t0 = F.t0, span = Math.max(1, F.t1 - F.t0);
    for (let i = 0; i < N; i++) if (inSet(i) && T[i] === T[i]) counts[Math.min(nb - 1, Math.floor((T[i] - t0) / span * nb))]++;
    bars($("hist-time"), Array.from(counts), null, fmtTime(t0).slice(0, 10), fmtTime(F.t1).slice(0, 10));
  }
  const ns = META.stations.length, per = new Float64Array(ns);
  for (let i = 0; i < N; i++) if (inSet(i)) per[ST[i]]++;
  const order = Array.from(per.keys()).sort((a, b) => per[b] - per[a]).slice(0, 12);
  bars($("hist-station"), order.map((s) => per[s]), order.map((s) => META.stations[s]));
}
function bars(cv, values, labels, left, right) {
  const c = cv.getContext("2d"), w = cv.width, h = cv.height, base = labels ? h : h - 12;
  c.clearRect(0, 0, w, h);
  const max = Math.max(1, ...values);
  c.font = "10px sans-serif";
  if (labels) {
    const bh = h / Math.max(1, values.length);
    values.forEach((v, k) => {
      c.fillStyle = "#90a4ae"; c.fillRect(70, k * bh + 1, (w - 110) * v / max, bh - 2);
      c.fillStyle = "#333"; c.fillText(labels[k], 0, k * bh + bh * 0.7); c.fillText(String(v), 72 + (w - 110) * v / max, k * bh + bh * 0.7);
    });
  } else {
    const bw = w / values.length;
    c.fillStyle = "#607d8b";
    values.forEach((v, k) => c.fillRect(k * bw, base - (base - 4) * v / max, Math.max(1, bw - 1), (base - 4) * v / max));
    c.fillStyle = "#333"; c.fillText(left || "", 0, h - 2);
    const rw = c.measureText(right || "").width; c.fillText(right || "", w - rw, h - 2);
    c.fillText(`max ${max}`, 2, 10);
  }
}

// ---- selection: lasso ------------------------------------------------------------------------
let lasso = null;
function inPolygon(px, py, poly) {
  let inside = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a], [xb, yb] = poly[b];
    if ((ya > py) !== (yb > py) && px < (xb - xa) * (py - ya) / (yb - ya) + xa) inside = !inside;
  }
  return inside;
}
function selectPolygon(poly) {
  selected.fill(0); nSelected = 0;
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [x, y] of poly) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  for (let i = 0; i < N; i++) {
    if (!visible[i]) continue;
    const px = sx(i), py = sy(i);
    if (px < x0 || px > x1 || py < y0 || py > y1) continue;
    if (inPolygon(px, py, poly)) { selected[i] = 1; nSelected++; }
  }
  selChanged();
}
function selChanged() {
  $("selcount").textContent = nSelected ? `${nSelected.toLocaleString()} selected` : "";
  $("selcount").dataset.selected = nSelected;
  draw(); linked();
}

// ---- mouse -----------------------------------------------------------------------------------
let drag = null;
canvas.addEventListener("mousedown", (e) => {
  drag = { x: e.offsetX, y: e.offsetY, cx: view.cx, cy: view.cy, moved: false, lasso: e.shiftKey };
  if (e.shiftKey) lasso = [[e.offsetX, e.offsetY]];
});
window.addEventListener("mouseup", (e) => {
  if (!drag) return;
  if (drag.lasso && lasso && lasso.length > 2) selectPolygon(lasso);
  else if (!drag.moved) {
    const i = nearest(e.offsetX, e.offsetY, 8);
    pinned = i; if (i >= 0) show(i); draw();
  }
  lasso = null; drag = null; draw();
});
canvas.addEventListener("mousemove", (e) => {
  if (drag) {
    const dx = e.offsetX - drag.x, dy = e.offsetY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
    if (drag.lasso) { lasso.push([e.offsetX, e.offsetY]); draw(); return; }
    if (drag.moved) { view.cx = drag.cx - dx / view.s; view.cy = drag.cy + dy / view.s; draw(); }
    return;
  }
  const i = nearest(e.offsetX, e.offsetY, 8);
  if (i !== hovered) { hovered = i; if (pinned < 0 && i >= 0) show(i); draw(); }
});
canvas.addEventListener("wheel", (e) => {
  e.preventDefault();
  const f = Math.exp(-e.deltaY * 0.0015);
  const mx = (e.offsetX - W / 2) / view.s + view.cx, my = (H / 2 - e.offsetY) / view.s + view.cy;
  view.s *= f; view.cx = mx - (e.offsetX - W / 2) / view.s; view.cy = my - (H / 2 - e.offsetY) / view.s;
  draw();
}, { passive: false });
window.addEventListener("keydown", (e) => {
  if (e.key === "Escape") { selected.fill(0); nSelected = 0; pinned = -1; selChanged(); }
});
window.addEventListener("resize", () => { resize(); resetView(); draw(); });

// ---- controls --------------------------------------------------------------------------------
function legend() {
  const box = $("legend"), counts = new Int32Array(K);
  for (let i = 0; i < N; i++) counts[CL[i]]++;
  for (let j = 0; j < K; j++) {
    const d = document.createElement("div");
    d.innerHTML = `<input type="checkbox" id="cl-${j}" checked><span class="sw" style="background:${META.colours[j]}"></span>` +
      `<span>${j}</span><input type="text" id="name-${j}" placeholder="${(META.hints[j] || "name").replace(/"/g, "")}">` +
      `<span class="n">${counts[j].toLocaleString()}</span>`;
    box.appendChild(d);
    $(`name-${j}`).value = names[j];
    $(`cl-${j}`).addEventListener("change", (e) => { on[j] = e.target.checked ? 1 : 0; applyFilters(); });
    $(`name-${j}`).addEventListener("input", (e) => { names[j] = e.target.value.trim(); });
  }
  const unk = document.createElement("div");
  unk.innerHTML = `<span class="sw" style="background:#000"></span><span>unknown (fits no cluster)</span>`;
  box.appendChild(unk);
}
function setAll(v) { for (let j = 0; j < K; j++) { on[j] = v; $(`cl-${j}`).checked = !!v; } applyFilters(); }
function controls() {
  $("all-on").onclick = () => setAll(1); $("all-off").onclick = () => setAll(0);
  $("show-known").onchange = (e) => { F.known = e.target.checked; applyFilters(); };
  $("show-unknown").onchange = (e) => { F.unknown = e.target.checked; applyFilters(); };
  $("prob").oninput = (e) => { F.prob = e.target.value / 100; $("prob-v").textContent = F.prob.toFixed(2); applyFilters(); };
  if (!META.has_prob) $("prob").disabled = true;
  if (META.has_ll && META.threshold !== null) {
    const lo = Math.min(llMin, META.threshold), hi = Math.max(llMax, META.threshold);
    const pos = (v) => Math.round((v - lo) / Math.max(1e-12, hi - lo) * 1000);
    $("thr").value = pos(META.threshold); $("thr-v").textContent = META.threshold.toFixed(2);
    $("thr").oninput = (e) => {
      F.thr = e.target.value == pos(META.threshold) ? META.threshold : lo + (hi - lo) * e.target.value / 1000;
      $("thr-v").textContent = F.thr.toFixed(2); applyFilters();
    };
  } else { $("thr").disabled = true; $("thr-v").textContent = "(none)"; }
  if (META.has_time) {
    const at = (v) => tMin + (tMax - tMin) * v / 1000;
    $("t0-v").textContent = fmtTime(tMin).slice(0, 16); $("t1-v").textContent = fmtTime(tMax).slice(0, 16);
    $("t0").oninput = (e) => { F.t0 = e.target.value == 0 ? tMin : at(e.target.value); $("t0-v").textContent = fmtTime(F.t0).slice(0, 16); applyFilters(); };
    $("t1").oninput = (e) => { F.t1 = e.target.value == 1000 ? tMax : at(e.target.value); $("t1-v").textContent = fmtTime(F.t1).slice(0, 16); applyFilters(); };
  } else { $("time-box").style.display = "none"; }
  const sel = $("stations");
  META.stations.forEach((s, k) => { const o = document.createElement("option"); o.value = k; o.textContent = s; sel.appendChild(o); });
  sel.onchange = () => {
    const chosen = Array.from(sel.selectedOptions).map((o) => +o.value);
    F.stations = chosen.length ? new Set(chosen) : null; applyFilters();
  };
  $("clear-sel").onclick = () => { selected.fill(0); nSelected = 0; selChanged(); };
  $("export").onclick = exportCsv;
  $("save-names").onclick = saveNames;
}
function download(name, text, type) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name; document.body.appendChild(a); a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
function csvField(s) { s = String(s); return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s; }
function exportCsv() {
  const useSel = nSelected > 0, lines = ["row,cluster,cluster_name,unknown,probability,log_likelihood,station,time"];
  for (let i = 0; i < N; i++) {
    if (!visible[i] || (useSel && !selected[i])) continue;
    lines.push([ROW[i], CL[i], csvField(names[CL[i]]), isUnknown(i) ? 1 : 0, META.has_prob ? (PR[i] / 65535).toFixed(4) : "",
      LL[i] === LL[i] ? LL[i].toPrecision(6) : "", csvField(META.stations[ST[i]]), T[i] === T[i] ? new Date(T[i]).toISOString() : ""].join(","));
  }
  download(`${META.run}-selection.csv`, lines.join("\n") + "\n", "text/csv");
}
function saveNames() {
  const out = {};
  names.forEach((s, j) => { if (s) out[String(j)] = s; });
  download(`${META.run}-names.json`, JSON.stringify({ format: "gpuclust-names", version: 1, run: META.run, k: K, names: out }, null, 1) + "\n",
    "application/json");
}

// ---- start -----------------------------------------------------------------------------------
$("title").textContent = `${META.run}: ${N.toLocaleString()} events, ${K} clusters, ${META.method === "umap" ? "UMAP" : "t-SNE"} map` +
  (META.kind === "predict" ? " (predict)" : "");
$("f-ll-name").textContent = META.score_label;
document.querySelectorAll(".score-name").forEach((el) => { el.textContent = META.score_label; });
setMode(); legend(); controls(); resize(); resetView(); applyFilters();
if (N > 0) showMean(CL[0]);
// for scripted checks (tests, benchmarks): where an event is drawn, and when the first frame is up
window.explore = { n: N, screenOf: (i) => { const b = canvas.getBoundingClientRect(); return [b.left + sx(i), b.top + sy(i)]; },
  visibleCount: () => nVisible, selectedCount: () => nSelected, rendered: performance.now() };
document.body.dataset.ready = "1";
})();
