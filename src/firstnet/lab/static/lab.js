// The lab: three panels (tabs), one shown at a time; this file holds what they share and the
// "Action!" panel. The server trains (POST /api/lab/toy starts a job), this page sends play /
// pause / step and draws each frame the job streams (GET /api/lab/jobs/ID/events). The shown
// panel and its settings live in the URL, so a link opens the same network on the same data.
// The server runs one job at a time: leaving a panel stops its job.
"use strict";

const $ = (id) => document.getElementById(id);
const panels = {};       // name -> {enter(), leave(), ...}: each panel registers itself
let activePanel = null;
let options = null;      // what the server offers (GET /api/lab/options)

// ---- shared by the panels

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", headers: {"Content-Type": "application/json"}, body: body === undefined ? "" : JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
  return answer;
}

// The job stopped (it may have ended already), then its event stream closed: in the other order
// the server would drop the job of a page it sees leave, and the stop would find none.
async function endJob(job, events) {
  if (job) {
    try { await post(`/api/lab/jobs/${job.job}/stop`); } catch (error) { /* it had ended */ }
  }
  if (events) events.close();
}

// A command to a job (play, pause, step, stop; slow, fast, forget for an MNIST job): the state after.
async function commandJob(job, what) {
  return (await post(`/api/lab/jobs/${job.job}/${what}`)).state;
}

function decode(base64) {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return createImageBitmap(new Blob([bytes], {type: "image/png"}));
}

function statusOf(id) {
  return (text, isError = false) => {
    $(id).textContent = text || "\u00a0";
    $(id).classList.toggle("error", isError);
  };
}

// The URL's query: the panel, then every setting that differs from `defaults`.
function settingsToUrl(panel, settings, defaults) {
  const query = new URLSearchParams({panel});
  for (const [name, value] of Object.entries(settings)) {
    if (value !== defaults[name] && value !== null) query.set(name, value);
  }
  history.replaceState(null, "", `?${query}`);
}

function settingsFromUrl(defaults) {
  const query = new URLSearchParams(location.search);
  const settings = {...defaults};
  for (const [name, value] of query) {
    if (!(name in settings)) continue;
    settings[name] = typeof defaults[name] === "string" ? value : (value === "" ? null : Number(value));
  }
  return settings;
}

async function showPanel(name) {
  if (!panels[name]) name = "action";
  if (activePanel === name) return;
  const leaving = activePanel;
  activePanel = name;
  for (const button of document.querySelectorAll(".tabs button")) {
    button.setAttribute("aria-selected", String(button.dataset.panel === name));
  }
  for (const panel of Object.keys(panels)) $(`panel-${panel}`).hidden = panel !== name;
  if (leaving) await panels[leaving].leave();
  await panels[name].enter();
}

// Lines of `series` (arrays of values, one per x) on `canvas`; `xLabel(count)` names the x range.
function drawCurve(canvas, series, label, isAccuracy, xLabel = (n) => `${n} epoch${n === 1 ? "" : "s"}`) {
  const ctx = canvas.getContext("2d");
  const {width, height} = canvas;
  const big = document.documentElement.classList.contains("big");
  const pad = {left: big ? 58 : 44, right: 8, top: big ? 24 : 18, bottom: big ? 28 : 22};
  ctx.clearRect(0, 0, width, height);
  const text = parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8;
  ctx.font = `${text}px system-ui, sans-serif`;
  ctx.fillStyle = "#5b6169";
  ctx.fillText(label, pad.left, pad.top - 6);
  const values = series.flat().filter((v) => Number.isFinite(v));
  const steps = Math.max(1, ...series.map((s) => s.length));
  let low = isAccuracy ? Math.min(0.5, ...values) : 0;
  let high = isAccuracy ? 1 : Math.max(values.length ? 1e-3 : 1, ...values);  // empty: 0 to 1
  const x = (i) => pad.left + (steps <= 1 ? 0 : i / (steps - 1)) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v - low) / (high - low) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#d8dadd";
  ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = low + k * (high - low) / 4;
    ctx.beginPath();
    ctx.moveTo(pad.left, y(v));
    ctx.lineTo(width - pad.right, y(v));
    ctx.stroke();
    ctx.fillText(isAccuracy ? `${Math.round(100 * v)}%` : v.toFixed(2), 2, y(v) + 4);
  }
  ctx.textAlign = "right";
  ctx.fillText(xLabel(steps), width - pad.right, height - 6);
  ctx.textAlign = "left";
  series.forEach((points, index) => {
    ctx.strokeStyle = index === 0 ? "#0072b2" : "#e69f00";
    ctx.lineWidth = 2;
    ctx.beginPath();
    const stride = Math.max(1, Math.floor(points.length / width));  // a point a pixel at most
    for (let i = 0; i < points.length; i += stride) (i === 0 ? ctx.moveTo(x(i), y(points[i])) : ctx.lineTo(x(i), y(points[i])));
    ctx.stroke();
    if (points.length <= 30) {  // few points (epochs): each one marked
      ctx.fillStyle = ctx.strokeStyle;
      points.forEach((value, i) => {
        ctx.beginPath();
        ctx.arc(x(i), y(value), 3.5, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
  });
}

// ---- the "Action!" panel

const form = $("settings");
let job = null;          // {job, train, test, extent, classes} of the running job
let events = null;       // its EventSource
let state = "paused";
let curves = {epoch: [], train_loss: [], train_acc: [], test_loss: [], test_acc: []};
let regions = null;      // the latest regions' bitmap
let unitSprite = null;   // the latest hidden units' bitmap (one row of tiles)
let chosenUnit = -1;
let shown = 0;           // the number of the newest frame drawn: an older one decoded late is dropped
let received = 0;

const setStatus = statusOf("status");

function fillSelect(name, values) {
  const select = form.elements[name];
  select.replaceChildren(...values.map((value) => new Option(value, value)));
}

function settingsFromForm() {
  const settings = {};
  for (const [name, value] of Object.entries(options.defaults)) {
    const field = form.elements[name];
    if (typeof value === "string") settings[name] = field.value;
    else settings[name] = Number.isInteger(value) ? parseInt(field.value, 10) : parseFloat(field.value);
  }
  return settings;
}

function settingsToForm(settings) {
  for (const [name, value] of Object.entries(settings)) {
    if (form.elements[name]) form.elements[name].value = value;
  }
  form.elements.classes.disabled = form.elements.data.value in options.fixed_classes;
  for (const name of ["depth", "width", "activation"]) form.elements[name].disabled = form.elements.model.value === "linear";
}

async function stopJob() {
  const [old, stream] = [job, events];
  job = events = null;
  await endJob(old, stream);
}

async function reset() {
  for (const field of form.elements) field.classList.remove("invalid");
  const settings = settingsFromForm();
  settingsToForm(settings);
  await stopJob();
  curves = {epoch: [], train_loss: [], train_acc: [], test_loss: [], test_acc: []};
  regions = unitSprite = null;
  chosenUnit = -1;
  shown = ++received;  // a frame of the old job still being decoded is dropped
  try {
    job = await post("/api/lab/toy", settings);
  } catch (error) {
    const field = form.elements[error.message.split(/[ :]/)[0]];
    if (field) field.classList.add("invalid");
    setStatus(error.message, true);
    drawAll();
    return;
  }
  settingsToUrl("action", job.settings, options.defaults);
  setStatus(`${settings.data}: ${job.train.length} training and ${job.test.length} test points, ${job.classes} classes`);
  const mine = job;  // a frame of a job replaced since is dropped
  events = new EventSource(`/api/lab/jobs/${job.job}/events`);
  events.onmessage = (message) => { if (job === mine) onFrame(JSON.parse(message.data)); };
  events.onerror = () => {
    if (job !== mine) return;
    if (state === "playing" || state === "paused") setStatus("the connection to the server was lost; Reset starts again", true);
    events.close();
  };
}

async function command(what) {
  if (!job) return;
  try {
    state = await commandJob(job, what);
    showState();
  } catch (error) {
    setStatus(error.message, true);
  }
}

function showState() {
  $("play").textContent = state === "playing" ? "Pause" : "Play";
  $("play").disabled = $("step").disabled = !["playing", "paused"].includes(state);
}

async function onFrame(frame) {
  const number = ++received;
  state = frame.state;
  for (const key of Object.keys(curves)) curves[key].push(...frame.records[key]);
  const bitmaps = await Promise.all([decode(frame.regions), frame.units ? decode(frame.units) : null]);
  if (number < shown) return;
  shown = number;
  [regions, unitSprite] = bitmaps;
  const last = curves.epoch.length - 1;
  $("n-step").textContent = frame.step;
  $("n-train").textContent = last < 0 ? "\u2013" : `${(100 * curves.train_acc[last]).toFixed(1)}%`;
  $("n-test").textContent = last < 0 ? "\u2013" : `${(100 * curves.test_acc[last]).toFixed(1)}%`;
  if (frame.error) setStatus(frame.error, true);
  else if (state === "done") setStatus(`done: ${frame.step} steps, the most a lab job takes`);
  showState();
  drawAll(frame);
}

function drawAll(frame) {
  drawRegions();
  drawCurve($("loss"), [curves.train_loss, curves.test_loss], "cross-entropy loss", false);
  drawCurve($("accuracy"), [curves.train_acc, curves.test_acc], "accuracy", true);
  drawUnits(frame);
}

function drawRegions() {
  const canvas = $("regions");
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  if (!job) return;
  if (regions) {
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(regions, 0, 0, canvas.width, canvas.height);
  }
  const [x0, x1, y0, y1] = job.extent;
  const toCanvas = (x, y) => [(x - x0) / (x1 - x0) * canvas.width, (y1 - y) / (y1 - y0) * canvas.height];
  const radius = canvas.width / 110;
  for (const [points, filled] of [[job.train, true], [job.test, false]]) {
    for (const [x, y, label] of points) {
      const [cx, cy] = toCanvas(x, y);
      ctx.beginPath();
      ctx.arc(cx, cy, radius, 0, 2 * Math.PI);
      ctx.lineWidth = filled ? 1 : 2;
      if (filled) {
        ctx.fillStyle = options.colours[label];
        ctx.fill();
        ctx.strokeStyle = "#fff";
      } else {
        ctx.strokeStyle = options.colours[label];
      }
      ctx.stroke();
    }
  }
}

function drawUnits(frame) {
  const tiles = $("tiles");
  if (!unitSprite || !frame) {
    if (!unitSprite) tiles.replaceChildren();
    $("unit").hidden = chosenUnit < 0 || !unitSprite;
    return;
  }
  const size = frame.tile;
  while (tiles.children.length > frame.unit_count) tiles.lastChild.remove();
  while (tiles.children.length < frame.unit_count) {
    const tile = document.createElement("canvas");
    tile.width = tile.height = size;
    const unit = tiles.children.length;
    tile.title = `unit ${unit + 1}`;
    tile.addEventListener("click", () => { chosenUnit = unit; drawUnits(frame); });
    tiles.appendChild(tile);
  }
  [...tiles.children].forEach((tile, unit) => {
    tile.getContext("2d").drawImage(unitSprite, unit * size, 0, size, size, 0, 0, size, size);
    tile.classList.toggle("chosen", unit === chosenUnit);
  });
  const large = $("unit");
  large.hidden = chosenUnit < 0;
  large.title = chosenUnit < 0 ? "" : `unit ${chosenUnit + 1} of ${frame.unit_count}: dark where it is quiet, bright where it fires`;
  if (chosenUnit >= 0) {
    const ctx = large.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(unitSprite, chosenUnit * size, 0, size, size, 0, 0, large.width, large.height);
  }
}

panels.action = {
  started: false,
  async enter() {
    if (!this.started) {
      this.started = true;
      fillSelect("data", options.datasets);
      fillSelect("activation", options.activations);
      fillSelect("optimizer", options.optimizers);
      form.addEventListener("change", reset);
      form.addEventListener("submit", (event) => event.preventDefault());
      $("play").addEventListener("click", () => command(state === "playing" ? "pause" : "play"));
      $("step").addEventListener("click", () => command("step"));
      $("reset").addEventListener("click", reset);
    }
    settingsToForm(settingsFromUrl(options.defaults));
    await reset();
  },
  async leave() {
    await stopJob();
    state = "paused";
  },
  redraw() { drawAll(); },
  play() { $("play").click(); },
  close() { if (events) events.close(); },
};

// ---- the page

async function start() {
  options = await (await fetch("/api/lab/options")).json();
  $("big").addEventListener("change", () => {
    document.documentElement.classList.toggle("big", $("big").checked);
    for (const panel of Object.values(panels)) if (panel.redraw) panel.redraw();
  });
  document.addEventListener("keydown", (event) => {
    const typing = event.target instanceof HTMLInputElement || event.target instanceof HTMLSelectElement;
    if (event.key === " " && !typing && event.target.tagName !== "CANVAS" && panels[activePanel].play) {
      event.preventDefault();
      panels[activePanel].play();
    }
  });
  for (const button of document.querySelectorAll(".tabs button")) {
    button.addEventListener("click", async () => {
      history.replaceState(null, "", `?panel=${button.dataset.panel}`);
      await showPanel(button.dataset.panel);
    });
  }
  window.addEventListener("pagehide", () => {
    for (const panel of Object.values(panels)) if (panel.close) panel.close();
  });
  await showPanel(new URLSearchParams(location.search).get("panel") || "action");
}

// The other panels' scripts (deferred, after this one) have registered themselves by then.
window.addEventListener("DOMContentLoaded", () => {
  start().catch((error) => statusOf(`${activePanel === "mnist" ? "m-" : activePanel === "gradient" ? "g-" : ""}status`)(
    `cannot start the lab (${error.message}); is firstnet serve still running?`, true));
});
