// The drawing page: strokes on a canvas, sent as PNG to POST /api/predict while you draw (debounced:
// at most one ask per UPDATE_MS, one in flight at a time).
"use strict";

const UPDATE_MS = 120;     // while drawing, ask the server at most this often: later changes join the pending ask
const $ = (id) => document.getElementById(id);

const pad = makePad($("pad"), {onDraw: () => schedule(), onStrokeEnd: () => schedule(0)});  // pad.js
let timer = null;          // pending debounced request
let inFlight = false;      // one request at a time; `dirty` asks for another when it returns
let dirty = false;
let generation = 0;        // bumped by clear/undo, so a late answer for an old drawing is ignored
let models = [];

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
  pad.clear();
  changed();
}

function undo() {
  pad.undo();
  changed();
}

function changed() {
  generation += 1;
  if (!pad.empty) schedule(0);
  else showEmpty();
}

async function predict() {
  if (pad.empty) return showEmpty();
  if (inFlight) {
    dirty = true;
    return;
  }
  inFlight = true;
  dirty = false;
  const asked = generation;
  const model = $("model").value;
  const started = performance.now();
  try {
    const blob = await pad.png();
    // Cleared or undone while the PNG was being made: nothing (or an old drawing) to ask about.
    if (asked !== generation || pad.empty) return;
    const response = await fetch(`/api/predict?model=${encodeURIComponent(model)}`, {
      method: "POST", headers: {"Content-Type": "image/png"}, body: blob,
    });
    const answer = await response.json();
    if (asked !== generation || pad.empty) return;
    if (response.ok) show(answer, performance.now() - started);
    else setStatus(answer.error || `the server answered ${response.status}`, true);
  } catch (error) {
    setStatus(`no answer from the server (${error.message}); is firstnet serve still running?`, true);
  } finally {
    inFlight = false;
    if (dirty) predict();
    markBusy();
  }
}

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

function showEmpty() {
  $("prediction").textContent = "\u2013";
  $("confidence").textContent = "";
  showBars($("bars"), new Array(10).fill(0), -1);
  drawGray($("seen"), new Array(28).fill(new Array(28).fill(0)));
  $("hidden").hidden = true;
  setStatus("Draw a digit on the pad.");
}

function show(answer, milliseconds) {
  const served = models.find((model) => model.name === answer.model);
  $("prediction").textContent = answer.label;
  $("confidence").textContent = `${(100 * answer.probabilities[answer.class]).toFixed(1)}% sure`;
  showBars($("bars"), answer.probabilities, answer.class, served ? served.classes : null);
  drawGray($("seen"), answer.image);
  showHidden(answer.hidden);
  const smoothing = served && served.label_smoothing ? served.label_smoothing : 0;
  // Label smoothing trains the model to aim at about 1 - smoothing + smoothing / 10 for the right digit.
  const ceiling = Math.round(100 * (1 - smoothing + smoothing / 10));
  const note = smoothing ? ` Trained with label smoothing ${smoothing}, which teaches it to give the right digit about ${ceiling}%: so even an easy digit stays near that, not near 100%.` : "";
  setStatus(`${answer.kind} of run ${answer.model}; answered in ${Math.round(milliseconds)} ms.${note}`);
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
  pad.clear();
  generation += 1;
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
  } else if (pad.empty) {
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
  buildBars($("bars"));
  showEmpty();
  $("clear").addEventListener("click", clearPad);
  $("undo").addEventListener("click", undo);
  $("model").addEventListener("change", () => {
    describeModel();
    if (!pad.empty) schedule(0);
  });
  $("upload").addEventListener("change", upload);
  document.addEventListener("keydown", onKey);
  loadModels();
}

start();
