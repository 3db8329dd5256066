// The lab's MNIST panel: the server trains the linear model, an MLP or the CNN on MNIST with the
// recipe of `firstnet train` (POST /api/lab/mnist), this page plays, pauses and steps it and draws
// its frames: the training loss, the test accuracy per epoch, the first layer's weights and the
// confusion matrix. Paused or done, the pad asks this model (POST .../predict) and teaches a copy
// of it one drawn example (POST .../teach). Uses lab.js (post, decode, drawCurve, ...) and pad.js.
"use strict";

{
  const form = $("m-settings");
  const setStatus = statusOf("m-status");
  const setAnswer = statusOf("m-answer");
  const setTeach = statusOf("m-teach-status");
  const STRINGS = ["dataset", "model", "activation", "optimizer", "schedule", "precision"];
  const INTEGERS = ["hidden", "depth", "channels", "batch_size", "augment", "seed", "train_limit"];
  const MODEL_FIELDS = {hidden: ["mlp"], depth: ["mlp"], activation: ["mlp", "cnn"], channels: ["cnn"]};
  let mnist = null;        // options.mnist: fields, bounds, defaults, choices
  let job = null;          // the answer of POST /api/lab/mnist
  let events = null;
  let state = "paused";
  let losses = [];         // the training loss, one value per report (every 10 steps)
  let lastStep = 0;
  let records = {epoch: [], test_acc: [], train_acc: []};
  let weights = null;      // the latest first-layer bitmap
  let confusion = null;
  let started = false;
  let pad = null;
  let queue = Promise.resolve();  // resets, one after the other: a start can take seconds
  let received = 0;        // frames received; `drawn`: the newest drawn (an older one decoded late is dropped)
  let drawn = 0;
  let framed = "paused";   // the state of the newest frame: what Save waits for
  let taughtBefore = null; // p(label) before the last step, to show how it moved

  function recipe(dataset, model) {
    return mnist.defaults[dataset][model];
  }

  function fill(name, values) {
    form.elements[name].replaceChildren(...values.map((value) => new Option(value, value)));
  }

  function toForm(settings) {
    for (const name of mnist.fields) {
      const value = settings[name];
      form.elements[name].value = value === null || value === undefined ? "" : value;
    }
    for (const [name, models] of Object.entries(MODEL_FIELDS)) {
      form.elements[name].disabled = !models.includes(settings.model);
    }
  }

  function fromForm() {
    const settings = {};
    for (const name of mnist.fields) {
      const raw = form.elements[name].value;
      if (STRINGS.includes(name)) settings[name] = raw;
      else if (raw === "") settings[name] = null;
      else settings[name] = INTEGERS.includes(name) ? parseInt(raw, 10) : parseFloat(raw);
    }
    return settings;
  }

  // What the server is sent: the data set, the model, and the fields that differ from their recipe.
  function changes(settings) {
    const base = recipe(settings.dataset, settings.model);
    const sent = {dataset: settings.dataset, model: settings.model};
    for (const name of mnist.fields) {
      const applies = !MODEL_FIELDS[name] || MODEL_FIELDS[name].includes(settings.model);
      if (applies && settings[name] !== base[name]) sent[name] = settings[name];
    }
    return sent;
  }

  function urlDefaults(settings) {
    return {...recipe(settings.dataset, settings.model), dataset: "mnist", model: "mlp"};
  }

  function fromUrl() {
    const query = new URLSearchParams(location.search);
    const dataset = mnist.defaults[query.get("dataset")] ? query.get("dataset") : "mnist";
    const model = mnist.choices.model.includes(query.get("model")) ? query.get("model") : "mlp";
    return {...settingsFromUrl(recipe(dataset, model)), dataset, model};
  }

  async function stopJob() {
    const [old, stream] = [job, events];
    job = events = null;
    await endJob(old, stream);
  }

  function reset(event) {
    queue = queue.then(() => startJob(event)).catch((error) => setStatus(error.message, true));
    return queue;
  }

  async function startJob(event) {
    if (event && ["dataset", "model"].includes(event.target.name)) {  // a new recipe: its own values
      const chosen = {dataset: form.elements.dataset.value, model: form.elements.model.value};
      toForm({...recipe(chosen.dataset, chosen.model), ...chosen});
    }
    for (const field of form.elements) field.classList.remove("invalid");
    const settings = fromForm();
    toForm(settings);
    await stopJob();
    losses = [];
    lastStep = 0;
    records = {epoch: [], test_acc: [], train_acc: []};
    weights = confusion = null;
    state = framed = "paused";
    drawn = received;  // frames of the old job still being decoded are dropped
    showState();
    $("m-save").disabled = true;
    $("m-command").textContent = "";
    setStatus(settings.dataset === "mnist" ? "loading MNIST..." : `loading ${settings.dataset}...`);
    try {
      job = await post("/api/lab/mnist", changes(settings));
    } catch (error) {
      const field = form.elements[error.message.split(/[ :]/)[0]];
      if (field) field.classList.add("invalid");
      setStatus(error.message, true);
      drawAll();
      return;
    }
    if (activePanel !== "mnist") return stopJob();  // left while it started
    settingsToUrl("mnist", job.settings, urlDefaults(job.settings));
    $("m-command").textContent = job.command;
    fillLabels(job.classes);
    setStatus(`${job.settings.model} on ${job.train_examples.toLocaleString()} training images, ` +
      `${job.total_steps.toLocaleString()} steps in ${job.settings.epochs} epochs: press Play`);
    const mine = job;
    events = new EventSource(`/api/lab/jobs/${job.job}/events`);
    events.onmessage = (message) => { if (job === mine) onFrame(JSON.parse(message.data)); };
    events.onerror = () => {
      if (job !== mine) return;
      if (state === "playing" || state === "paused") setStatus("the connection to the server was lost; Reset starts again", true);
      events.close();
    };
    if (!$("m-slow").checked) return;
    await commandJob(job, "slow");
  }

  function fillLabels(classes) {
    const select = $("m-label");
    const chosen = select.value;
    select.replaceChildren(...classes.map((name, index) => new Option(name, index)));
    if (chosen) select.value = chosen;
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
    $("m-play").textContent = state === "playing" ? "Pause" : "Play";
    $("m-play").disabled = $("m-step").disabled = $("m-stop").disabled = !["playing", "paused"].includes(state);
    $("m-save").disabled = !["done", "stopped"].includes(framed);  // its files written
    $("m-pad").classList.toggle("waiting", state === "playing");
  }

  async function onFrame(frame) {
    const number = ++received;
    const before = state;
    state = framed = frame.state;
    for (const [step, loss] of frame.trace) {
      losses.push(loss);
      lastStep = step;
    }
    for (const key of Object.keys(records)) records[key].push(...frame.records[key]);
    if (frame.confusion) confusion = frame.confusion;
    const bitmap = frame.weights ? await decode(frame.weights) : null;
    if (number < drawn) return;
    drawn = number;
    if (bitmap) weights = bitmap;
    const epochs = records.epoch.length;
    $("m-n-step").textContent = `${frame.step.toLocaleString()} / ${frame.total_steps.toLocaleString()}`;
    $("m-n-epoch").textContent = String(epochs);
    $("m-n-loss").textContent = losses.length ? losses[losses.length - 1].toFixed(3) : "\u2013";
    $("m-n-test").textContent = epochs ? `${(100 * records.test_acc[epochs - 1]).toFixed(2)}%` : "\u2013";
    if (frame.error) setStatus(frame.error, true);
    else if (state === "done") setStatus(`done: ${(100 * records.test_acc[epochs - 1]).toFixed(2)}% on the test set. Draw a digit, or save the run.`);
    else if (state === "stopped") setStatus("stopped: its checkpoint can be saved as a run and resumed with firstnet train --resume");
    else if (state === "paused" && frame.step > 0) setStatus("paused: draw a digit on the pad to ask this model");
    else if (state === "playing" && before !== "playing") setStatus("training...");
    showState();
    drawAll();
    if (before === "playing" && state !== "playing" && pad && !pad.empty) ask();
  }

  function drawAll() {
    const steps = (n) => `${lastStep.toLocaleString()} steps`;
    drawCurve($("m-loss"), [losses], "training loss (mean of the last 10 steps)", false, steps);
    drawCurve($("m-accuracy"), [records.test_acc], "test accuracy after each epoch", true);
    drawWeights();
    drawConfusion();
  }

  function drawWeights() {
    const canvas = $("m-weights");
    const ctx = canvas.getContext("2d");
    $("m-weights-title").hidden = canvas.hidden = !weights && job && job.settings.model === "cnn";
    if (!weights) {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      return;
    }
    const scale = Math.max(1, Math.floor(520 / weights.width));
    if (canvas.width !== weights.width * scale) {
      canvas.width = weights.width * scale;
      canvas.height = weights.height * scale;
    }
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(weights, 0, 0, canvas.width, canvas.height);
  }

  function drawConfusion() {
    const canvas = $("m-confusion");
    const ctx = canvas.getContext("2d");
    const {width, height} = canvas;
    ctx.clearRect(0, 0, width, height);
    if (!confusion) return;
    const classes = confusion.length;
    const margin = 22;
    const cell = (Math.min(width, height) - margin) / classes;
    const text = parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.62;
    ctx.font = `${text}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    confusion.forEach((row, truth) => {
      const total = Math.max(1, row.reduce((a, b) => a + b, 0));
      row.forEach((count, guess) => {
        const share = count / total;
        const x = margin + guess * cell;
        const y = margin + truth * cell;
        const strength = truth === guess ? share : Math.min(1, 8 * share);
        ctx.fillStyle = truth === guess ? `rgba(0, 114, 178, ${strength})` : `rgba(213, 94, 0, ${strength})`;
        ctx.fillRect(x, y, cell - 1, cell - 1);
        if (count) {
          ctx.fillStyle = strength > 0.55 ? "#fff" : "#1f2328";
          ctx.fillText(String(count), x + cell / 2, y + cell / 2);
        }
      });
      ctx.fillStyle = "#5b6169";
      ctx.fillText(String(truth), margin / 2, margin + (truth + 0.5) * cell);
      ctx.fillText(String(truth), margin + (truth + 0.5) * cell, margin / 2);
    });
  }

  // The pad: the model's answer for the drawing, once a stroke ends.
  async function ask() {
    if (!job || pad.empty) return;
    if (state === "playing") {
      setAnswer("The model is training: pause it (or let it finish) to ask it.");
      return;
    }
    try {
      const response = await fetch(`/api/lab/jobs/${job.job}/predict`, {
        method: "POST", headers: {"Content-Type": "image/png"}, body: await pad.png(),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
      taughtBefore = answer.probabilities[Number($("m-label").value)];
      showBars($("m-bars"), answer.probabilities, answer.class, job.classes);
      const name = job.classes[answer.class];
      const taught = answer.taught ? " (the copy you taught)" : "";
      setAnswer(`${name}, ${(100 * answer.probabilities[answer.class]).toFixed(1)}% sure${taught}`);
    } catch (error) {
      setAnswer(error.message, true);
    }
  }

  async function teach(step) {
    if (!job || pad.empty) {
      setTeach("Draw a digit on the pad first, and choose its true label.", true);
      return;
    }
    const label = $("m-label").value;
    const lr = $("m-teach-lr").value;
    try {
      const response = await fetch(`/api/lab/jobs/${job.job}/teach?label=${label}&lr=${lr}&step=${step ? 1 : 0}`, {
        method: "POST", headers: {"Content-Type": "image/png"}, body: await pad.png(),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
      const predicted = answer.probabilities.indexOf(Math.max(...answer.probabilities));
      showBars($("m-bars"), answer.probabilities, predicted, job.classes);
      const p = answer.probabilities[Number(label)];
      const name = job.classes[label];
      const before = step && taughtBefore ? `${(100 * taughtBefore).toFixed(1)}% \u2192 ` : "";
      setTeach(`p(${name}) = ${before}${(100 * p).toFixed(1)}%, loss \u2212log p(${name}) = ${answer.loss.toFixed(4)}` +
        (answer.taught_steps ? `, after ${answer.taught_steps} step${answer.taught_steps > 1 ? "s" : ""} on this drawing` : ""));
      taughtBefore = p;
      const whose = answer.taught_steps ? " (the copy you taught)" : "";
      setAnswer(`${job.classes[predicted]}, ${(100 * answer.probabilities[predicted]).toFixed(1)}% sure${whose}`);
      await showGradients(answer.layers);
    } catch (error) {
      setTeach(error.message, true);
    }
  }

  async function showGradients(layers) {
    const box = $("m-grads");
    const pictures = await Promise.all(layers.map((layer) => decode(layer.picture)));
    box.replaceChildren(...layers.map((layer, index) => {
      const figure = document.createElement("figure");
      const canvas = document.createElement("canvas");
      const picture = pictures[index];
      const scale = Math.max(1, Math.floor((layer.tiles ? 360 : 200) / picture.width));
      canvas.width = picture.width * scale;
      canvas.height = picture.height * scale;
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(picture, 0, 0, canvas.width, canvas.height);
      const caption = document.createElement("figcaption");
      const shown = layer.tiles ? `, its first ${layer.shown} rows as 28\u00d728 pictures` :
        (layer.shown[0] < layer.shape[0] || layer.shown[1] < layer.shape[1] ? `, its first ${layer.shown.join("\u00d7")}` : "");
      caption.textContent = `dL/d${layer.name} (${layer.shape.join("\u00d7")}): norm ${layer.norm.toPrecision(3)}${shown}`;
      figure.append(canvas, caption);
      return figure;
    }));
  }

  panels.mnist = {
    async enter() {
      mnist = options.mnist;
      if (!started) {
        started = true;
        for (const name of STRINGS) fill(name, mnist.choices[name]);
        buildBars($("m-bars"));
        fillLabels(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
        pad = makePad($("m-pad"), {onStrokeEnd: ask});
        form.addEventListener("change", reset);
        form.addEventListener("submit", (event) => event.preventDefault());
        $("m-play").addEventListener("click", () => command(state === "playing" ? "pause" : "play"));
        $("m-step").addEventListener("click", () => command("step"));
        $("m-stop").addEventListener("click", () => command("stop"));
        $("m-reset").addEventListener("click", () => reset());
        $("m-slow").addEventListener("change", () => command($("m-slow").checked ? "slow" : "fast"));
        $("m-save").addEventListener("click", save);
        $("m-clear").addEventListener("click", () => {
          pad.clear();
          showBars($("m-bars"), new Array(10).fill(0), -1);
          setAnswer("");
        });
        $("m-gradients").addEventListener("click", () => teach(false));
        $("m-teach-step").addEventListener("click", () => teach(true));
        $("m-forget").addEventListener("click", async () => {
          await command("forget");
          $("m-grads").replaceChildren();
          setTeach("forgotten: the pad asks the trained model again");
          ask();
        });
      }
      toForm(fromUrl());
      await reset();
    },
    async leave() {
      await queue;
      await stopJob();
      state = "paused";
    },
    redraw: drawAll,
    play() { $("m-play").click(); },
    close() { if (events) events.close(); },
  };

  async function save() {
    if (!job) return;
    try {
      const saved = await post(`/api/lab/jobs/${job.job}/save`);
      const how = saved.finished ? `firstnet eval ${saved.run}` : `firstnet train --resume ${saved.run}`;
      setStatus(`saved as ${saved.run}: firstnet runs lists it; ${how}`);
    } catch (error) {
      setStatus(error.message, true);
    }
  }
}
