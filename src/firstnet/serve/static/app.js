// The drawing page: strokes on a canvas, sent as PNG to POST /api/predict while you draw (debounced:
// at most one ask per UPDATE_MS, one in flight at a time).
"use strict";

const INK_WIDTH = 20;      // stroke width in canvas pixels (the pad is 280 wide, so about 2 MNIST pixels)
const UPDATE_MS = 120;     // while drawing, ask the server at most this often: later changes join the pending ask
const $ = (id) => document.getElementById(id);

const pad = $("pad");
const ctx = pad.getContext("2d");
const strokes = [];        // each stroke: an array of [x, y] points in canvas pixels
let drawing = null;        // the stroke under the pointer, if any
let timer = null;          // pending debounced request
let inFlight = false;      // one request at a time; `dirty` asks for another when it returns
let dirty = false;
let generation = 0;        // bumped by clear/undo, so a late answer for an old drawing is ignored
let models = [];

function redraw() {
  ctx.fillStyle = "#000";  // an opaque black background: the PNG has no transparency to guess about
  ctx.fillRect(0, 0, pad.width, pad.height);
  ctx.strokeStyle = "#fff";
  ctx.fillStyle = "#fff";
  ctx.lineWidth = INK_WIDTH;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  for (const stroke of strokes) {
    if (stroke.length === 1) {
      ctx.beginPath();
      ctx.arc(stroke[0][0], stroke[0][1], INK_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(stroke[0][0], stroke[0][1]);
    for (const [x, y] of stroke.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function canvasPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [(event.clientX - rect.left) * pad.width / rect.width, (event.clientY - rect.top) * pad.height / rect.height];
}

function onPointerDown(event) {
  if (event.button !== undefined && event.button > 0) return;  // left button, pen tip or touch only
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = [canvasPoint(event)];
  strokes.push(drawing);
  redraw();
  schedule();
}

function onPointerMove(event) {
  if (!drawing) return;
  event.preventDefault();
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) drawing.push(canvasPoint(e));
  redraw();
  schedule();
}

function onPointerUp() {
  if (!drawing) return;
  drawing = null;
  schedule(0);
}

function schedule(delay = UPDATE_MS) {
  if (delay > 0 && timer !== null) return;  // an ask is pending and will see this change too
  clearTimeout(timer);
  timer = setTimeout(() => {
    timer = null;
    predict();
    markBusy();
  }, delay);
  markBusy();
}

// The answer panel says whether an answer is still coming (aria-busy), for screen readers and tests.
function markBusy() {
  $("result").setAttribute("aria-busy", String(timer !== null || inFlight));
}

function clearPad() {
  strokes.length = 0;
  changed();
}

function undo() {
  strokes.pop();
  changed();
}

function changed() {
  drawing = null;
  generation += 1;
  redraw();
  if (strokes.length) schedule(0);
  else showEmpty();
}

function predict() {
  if (!strokes.length) return showEmpty();
  if (inFlight) {
    dirty = true;
    return;
  }
  inFlight = true;
  dirty = false;
  const asked = generation;
  const model = $("model").value;
  const started = performance.now();
  pad.toBlob(async (blob) => {
    try {
      // Cleared or undone while the PNG was being made: nothing (or an old drawing) to ask about.
      if (asked !== generation || !strokes.length) return;
      const response = await fetch(`/api/predict?model=${encodeURIComponent(model)}`, {
        method: "POST", headers: {"Content-Type": "image/png"}, body: blob,
      });
      const answer = await response.json();
      if (asked !== generation || !strokes.length) return;
      if (response.ok) show(answer, performance.now() - started);
      else setStatus(answer.error || `the server answered ${response.status}`, true);
    } catch (error) {
      setStatus(`no answer from the server (${error.message}); is firstnet serve still running?`, true);
    } finally {
      inFlight = false;
      if (dirty) predict();
      markBusy();
    }
  }, "image/png");
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function buildBars() {
  const bars = $("bars");
  for (let digit = 0; digit < 10; digit++) {
    const column = document.createElement("div");
    column.className = "bar";
    column.innerHTML = `<span class="value"></span><span class="track"><span class="fill"></span></span>` +
      `<span class="digit">${digit}</span>`;
    bars.appendChild(column);
  }
}

// `names`: the class names of the model's data set (the bars are numbered; a bar's title names it).
function showBars(probabilities, predicted, names = null) {
  const columns = $("bars").children;
  const name = (index) => (names ? names[index] : String(index));
  probabilities.forEach((p, digit) => {
    const column = columns[digit];
    column.querySelector(".fill").style.height = `${(100 * p).toFixed(1)}%`;
    column.querySelector(".value").textContent = p >= 0.005 ? `${Math.round(100 * p)}%` : "";
    column.classList.toggle("top", digit === predicted);
    column.title = `${name(digit)}: ${(100 * p).toFixed(2)}%`;
  });
  $("bars").setAttribute("aria-label", "probabilities: " +
    probabilities.map((p, d) => `${name(d)} ${(100 * p).toFixed(1)}%`).join(", "));
}

function showEmpty() {
  $("prediction").textContent = "\u2013";
  $("confidence").textContent = "";
  showBars(new Array(10).fill(0), -1);
  drawGray($("seen"), new Array(28).fill(new Array(28).fill(0)));
  $("hidden").hidden = true;
  setStatus("Draw a digit on the pad.");
}

function show(answer, milliseconds) {
  const served = models.find((model) => model.name === answer.model);
  $("prediction").textContent = answer.label;
  $("confidence").textContent = `${(100 * answer.probabilities[answer.class]).toFixed(1)}% sure`;
  showBars(answer.probabilities, answer.class, served ? served.classes : null);
  drawGray($("seen"), answer.image);
  showHidden(answer.hidden);
  const smoothing = served && served.label_smoothing ? served.label_smoothing : 0;
  // Label smoothing trains the model to aim at about 1 - smoothing + smoothing / 10 for the right digit.
  const ceiling = Math.round(100 * (1 - smoothing + smoothing / 10));
  const note = smoothing ? ` Trained with label smoothing ${smoothing}, which teaches it to give the right digit about ${ceiling}%: so even an easy digit stays near that, not near 100%.` : "";
  setStatus(`${answer.kind} of run ${answer.model}; answered in ${Math.round(milliseconds)} ms.${note}`);
}

function drawGray(canvas, rows) {
  const context = canvas.getContext("2d");
  const image = context.createImageData(28, 28);
  rows.forEach((row, y) => row.forEach((value, x) => {
    const offset = 4 * (28 * y + x);
    image.data.fill(Math.round(255 * value), offset, offset + 3);
    image.data[offset + 3] = 255;
  }));
  context.putImageData(image, 0, 0);
}

// Black -> red -> orange -> pale yellow: a perceptually ordered ramp, readable for red-green colour blindness.
const RAMP = [[0, 0, 0], [120, 28, 109], [237, 105, 37], [252, 255, 164]];

function heat(t) {
  const position = Math.min(Math.max(t, 0), 1) * (RAMP.length - 1);
  const i = Math.min(Math.floor(position), RAMP.length - 2);
  const f = position - i;
  return RAMP[i].map((c, k) => Math.round(c + f * (RAMP[i + 1][k] - c)));
}

function showHidden(layers) {
  const panel = $("hidden");
  if (!layers) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  const strips = $("strips");
  while (strips.children.length > layers.length) strips.lastChild.remove();
  layers.forEach((units, index) => {
    let row = strips.children[index];
    if (!row) {
      row = document.createElement("div");
      row.className = "strip";
      row.innerHTML = `<span class="strip-label"></span><canvas height="1"></canvas>`;
      strips.appendChild(row);
    }
    const canvas = row.querySelector("canvas");
    canvas.width = units.length;
    const context = canvas.getContext("2d");
    const image = context.createImageData(units.length, 1);
    const largest = Math.max(...units, 1e-6);
    units.forEach((value, unit) => {
      image.data.set([...heat(value / largest), 255], 4 * unit);
    });
    context.putImageData(image, 0, 0);
    const active = units.filter((value) => value > 0).length;
    row.querySelector(".strip-label").textContent = `layer ${index + 1}: ${active} of ${units.length} units active`;
  });
}

async function loadModels() {
  const select = $("model");
  try {
    const response = await fetch("/api/models");
    const answer = await response.json();
    models = answer.models;
    for (const model of models) {
      const option = document.createElement("option");
      option.value = model.name;
      const accuracy = model.test_acc == null ? "" : `, ${(100 * model.test_acc).toFixed(2)}%`;
      option.textContent = `${model.kind} (${model.name}${accuracy})`;
      option.selected = model.name === answer.default;
      select.appendChild(option);
    }
    describeModel();
    if (!models.length) {
      setStatus("No trained model yet: train one (firstnet train --model mlp) and start the server again, " +
        "or watch one learn in the lab.", true);
    }
  } catch (error) {
    setStatus(`cannot list the models (${error.message}); is firstnet serve still running?`, true);
  }
}

// A picture from the disk (any format the browser reads), sent as PNG like a drawing: the way
// to ask a model of a set that is not digits (Fashion-MNIST, KMNIST). Pictures over MAX_SIDE
// are shrunk.
const MAX_SIDE = 2048;

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  strokes.length = 0;
  generation += 1;
  redraw();
  const asked = generation;
  const started = performance.now();
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const response = await fetch(`/api/predict?model=${encodeURIComponent($("model").value)}`, {
      method: "POST", headers: {"Content-Type": "image/png"}, body: blob,
    });
    const answer = await response.json();
    if (asked !== generation) return;
    if (response.ok) show(answer, performance.now() - started);
    else setStatus(answer.error || `the server answered ${response.status}`, true);
  } catch (error) {
    setStatus(`cannot read or send ${file.name} (${error.message})`, true);
  } finally {
    $("upload").value = "";
  }
}

// What the pad is for with the chosen model: digits are drawn, other sets' pictures uploaded.
function describeModel() {
  const served = models.find((model) => model.name === $("model").value);
  if (served && !served.digits) {
    setStatus(`This model knows ${served.dataset_title}: ${served.classes.join(", ")}. ` +
      "Upload a picture (one object, centred, on a plain background).");
  } else if (!strokes.length) {
    showEmpty();
  }
}

function onKey(event) {
  if (event.key === "Escape") {
    event.preventDefault();
    clearPad();
  } else if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
  }
}

function start() {
  buildBars();
  redraw();
  showEmpty();
  pad.addEventListener("pointerdown", onPointerDown);
  pad.addEventListener("pointermove", onPointerMove);
  pad.addEventListener("pointerup", onPointerUp);
  pad.addEventListener("pointercancel", onPointerUp);
  $("clear").addEventListener("click", clearPad);
  $("undo").addEventListener("click", undo);
  $("model").addEventListener("change", () => {
    describeModel();
    if (strokes.length) schedule(0);
  });
  $("upload").addEventListener("change", upload);
  document.addEventListener("keydown", onKey);
  loadModels();
}

start();
