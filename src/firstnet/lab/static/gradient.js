// The lab's gradient panel: the two-weight loss of `firstnet plot landscape` (GET /api/lab/surface)
// as a 3-D surface that the mouse turns, beside its contour plot with minus the gradient as arrows.
// A click on the contour plot starts descent there; the server computes the path (POST
// /api/lab/descent, the figure's own code) and the page walks it step by step.
// Uses lab.js (post, statusOf, settingsToUrl, settingsFromUrl).
"use strict";

{
  const form = $("g-settings");
  const setStatus = statusOf("g-status");
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const INTEGERS = ["steps", "seed"];
  let grid = null;          // the surface shown: axis, loss (rows are w2), arrows; rates and defaults (a)
  let twoWeights = null;    // the two-weight surface, where a click starts descent
  const SURFACES = {
    "two-weights": "logistic regression, two weights (plot landscape a)",
    "mnist-pca": "MNIST MLP: its training's plane (plot landscape b)",
    "mnist-random": "MNIST MLP: random directions (plot landscape b)",
  };
  let levels = [];          // the contour levels (quantiles, as the figure's)
  let path = null;          // the descent: path, loss, gradient_norm
  let shownSteps = 0;       // how much of the path is drawn
  let timer = null;
  let view = {turn: -0.9, tilt: 0.75};  // the 3-D view: rotation about the vertical axis, and tilt
  let dragging = null;
  let started = false;
  let asked = 0;            // the newest descent asked for: older answers are dropped

  function colour(t) {
    const position = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
    const i = Math.min(Math.floor(position), VIRIDIS.length - 2);
    const f = position - i;
    return VIRIDIS[i].map((c, k) => Math.round(c + f * (VIRIDIS[i + 1][k] - c)));
  }

  // Where a loss value sits among the levels, in [0, 1] (the levels crowd near the minimum).
  function rank(value) {
    let i = 0;
    while (i < levels.length - 1 && levels[i + 1] <= value) i++;
    const span = (levels[i + 1] ?? levels[i]) - levels[i];
    const inside = span > 0 ? Math.min(1, (value - levels[i]) / span) : 0;
    return (i + inside) / (levels.length - 1);
  }

  function quantileLevels(values) {
    const sorted = values.flat().slice().sort((a, b) => a - b);
    return Array.from({length: 25}, (_, k) => sorted[Math.round((k / 24) ** 2 * (sorted.length - 1))]);
  }

  function fromForm() {
    const settings = {};
    for (const name of Object.keys(twoWeights.defaults)) {
      const raw = form.elements[name].value;
      settings[name] = name === "optimizer" ? raw : INTEGERS.includes(name) ? parseInt(raw, 10) : parseFloat(raw);
    }
    return settings;
  }

  function toForm(settings) {
    for (const [name, value] of Object.entries(settings)) if (form.elements[name]) form.elements[name].value = value;
    form.elements.momentum.disabled = settings.optimizer !== "momentum";
  }

  // ---- the contour plot: a filled map, contour lines (marching squares) and arrows

  function contourGeometry() {
    const canvas = $("g-contour");
    const {axis} = grid;
    const low = axis[0], high = axis[axis.length - 1];
    const size = canvas.width;
    return {
      canvas, size,
      x: (w1) => (w1 - low) / (high - low) * size,
      y: (w2) => (high - w2) / (high - low) * size,
      w: (px, py) => [low + px / size * (high - low), high - py / size * (high - low)],
    };
  }

  function drawContour() {
    const g = contourGeometry();
    const ctx = g.canvas.getContext("2d");
    const n = grid.axis.length;
    const image = ctx.createImageData(g.size, g.size);
    for (let py = 0; py < g.size; py++) {
      for (let px = 0; px < g.size; px++) {
        const j = Math.min(n - 1, Math.round((1 - py / g.size) * (n - 1)));
        const i = Math.min(n - 1, Math.round(px / g.size * (n - 1)));
        const [r, gg, b] = colour(rank(grid.loss[j][i]));
        image.data.set([r, gg, b, 255], 4 * (py * g.size + px));
      }
    }
    ctx.putImageData(image, 0, 0);
    ctx.strokeStyle = "rgba(255, 255, 255, 0.35)";
    ctx.lineWidth = 1;
    for (const level of levels.slice(1, -1)) contourLines(ctx, g, level);
    drawArrows(ctx, g);
    drawPathOnContour(ctx, g);
  }

  function contourLines(ctx, g, level) {
    const {axis, loss} = grid;
    const n = axis.length;
    const cross = (a, b, va, vb) => a + (level - va) / (vb - va) * (b - a);
    ctx.beginPath();
    for (let j = 0; j < n - 1; j++) {
      for (let i = 0; i < n - 1; i++) {
        const corners = [[axis[i], axis[j], loss[j][i]], [axis[i + 1], axis[j], loss[j][i + 1]],
          [axis[i + 1], axis[j + 1], loss[j + 1][i + 1]], [axis[i], axis[j + 1], loss[j + 1][i]]];
        const points = [];
        for (let k = 0; k < 4; k++) {
          const [xa, ya, va] = corners[k];
          const [xb, yb, vb] = corners[(k + 1) % 4];
          if ((va < level) !== (vb < level)) points.push([cross(xa, xb, va, vb), cross(ya, yb, va, vb)]);
        }
        for (let k = 0; k + 1 < points.length; k += 2) {
          ctx.moveTo(g.x(points[k][0]), g.y(points[k][1]));
          ctx.lineTo(g.x(points[k + 1][0]), g.y(points[k + 1][1]));
        }
      }
    }
    ctx.stroke();
  }

  function drawArrows(ctx, g) {
    const {arrow_axis: axis, arrows} = grid;
    const longest = Math.max(...arrows.flat().map(([u, v]) => Math.hypot(u, v)), 1e-12);
    const reach = 0.9 * (g.x(axis[1]) - g.x(axis[0]));
    ctx.strokeStyle = ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.lineWidth = 1.5;
    arrows.forEach((row, j) => row.forEach(([u, v], i) => {
      const length = Math.hypot(u, v);
      if (length < 1e-9) return;
      const scale = reach * Math.sqrt(length / longest) / length;  // square root: small ones stay visible
      const x0 = g.x(axis[i]), y0 = g.y(axis[j]);
      const x1 = x0 + u * scale, y1 = y0 - v * scale;
      const angle = Math.atan2(y1 - y0, x1 - x0);
      ctx.beginPath();
      ctx.moveTo(x0, y0);
      ctx.lineTo(x1, y1);
      ctx.stroke();
      ctx.beginPath();
      ctx.moveTo(x1, y1);
      ctx.lineTo(x1 - 5 * Math.cos(angle - 0.45), y1 - 5 * Math.sin(angle - 0.45));
      ctx.lineTo(x1 - 5 * Math.cos(angle + 0.45), y1 - 5 * Math.sin(angle + 0.45));
      ctx.fill();
    }));
  }

  function drawPathOnContour(ctx, g) {
    if (!path) return;
    const points = path.path.slice(0, shownSteps + 1);
    ctx.strokeStyle = "#d55e00";
    ctx.fillStyle = "#fff";
    ctx.lineWidth = 2.5;
    ctx.beginPath();
    points.forEach(([a, b], k) => (k ? ctx.lineTo(g.x(a), g.y(b)) : ctx.moveTo(g.x(a), g.y(b))));
    ctx.stroke();
    points.forEach(([a, b], k) => {
      ctx.beginPath();
      ctx.arc(g.x(a), g.y(b), k === points.length - 1 ? 6 : 3, 0, 2 * Math.PI);
      ctx.fill();
      ctx.stroke();
    });
  }

  // ---- the 3-D surface: a mesh of quads, far ones first, turned by dragging

  function project(w1, w2, value, canvas, top) {
    const {axis} = grid;
    const half = axis[axis.length - 1];
    const x = w1 / half, y = w2 / half, z = 1.6 * value / top - 0.8;  // the box [-1, 1]^2 x [-0.8, 0.8]
    const c = Math.cos(view.turn), s = Math.sin(view.turn);
    const xr = c * x - s * y, yr = s * x + c * y;
    const ct = Math.cos(view.tilt), st = Math.sin(view.tilt);
    const depth = yr * ct + z * st;  // larger is farther
    const up = z * ct - yr * st;
    const scale = canvas.width * 0.3;
    return [canvas.width / 2 + scale * xr, canvas.height * 0.55 - scale * up, depth];
  }

  function drawSurface() {
    const canvas = $("g-surface");
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const {axis, loss} = grid;
    const n = axis.length;
    const top = Math.max(...loss.flat());
    const stride = 2;  // 30 x 30 quads
    const quads = [];
    for (let j = 0; j + stride < n; j += stride) {
      for (let i = 0; i + stride < n; i += stride) {
        const corners = [[i, j], [i + stride, j], [i + stride, j + stride], [i, j + stride]]
          .map(([a, b]) => project(axis[a], axis[b], loss[b][a], canvas, top));
        const mean = (loss[j][i] + loss[j][i + stride] + loss[j + stride][i] + loss[j + stride][i + stride]) / 4;
        quads.push({corners, depth: corners.reduce((sum, p) => sum + p[2], 0) / 4, value: mean});
      }
    }
    quads.sort((a, b) => b.depth - a.depth);
    for (const quad of quads) {
      const [r, g, b] = colour(rank(quad.value));
      ctx.fillStyle = ctx.strokeStyle = `rgb(${r}, ${g}, ${b})`;
      ctx.beginPath();
      quad.corners.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
    }
    if (path) {
      const points = path.path.slice(0, shownSteps + 1).map(([a, b], k) => project(a, b, path.loss[k], canvas, top));
      ctx.strokeStyle = "#d55e00";
      ctx.fillStyle = "#fff";
      ctx.lineWidth = 2.5;
      ctx.beginPath();
      points.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.stroke();
      for (const [x, y] of points) {
        ctx.beginPath();
        ctx.arc(x, y, 3, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
    const text = parseFloat(getComputedStyle(document.documentElement).fontSize) * 0.8;
    ctx.font = `${text}px system-ui, sans-serif`;
    ctx.fillStyle = "#5b6169";
    for (const [label, w1, w2] of [["w1", axis[n - 1] * 1.15, 0], ["w2", 0, axis[n - 1] * 1.15]]) {
      const [x, y] = project(w1, w2, 0, canvas, top);
      ctx.fillText(label, x, y);
    }
  }

  function drawAll() {
    if (!grid) return;
    drawContour();
    drawSurface();
    const last = path ? shownSteps : -1;
    $("g-n-step").textContent = path ? `${shownSteps} / ${path.loss.length - 1}` : "0";
    $("g-n-loss").textContent = last >= 0 ? path.loss[last].toFixed(4) : "\u2013";
    const norm = last >= 0 ? path.gradient_norm[last] : NaN;
    $("g-n-grad").textContent = Number.isFinite(norm) ? norm.toFixed(4) : "\u2013";
  }

  // ---- descent

  async function descend() {
    if (grid !== twoWeights) return;
    const settings = fromForm();
    toForm(settings);
    settingsToUrl("gradient", settings, twoWeights.defaults);
    stopWalking();
    const mine = ++asked;
    try {
      const answer = await post("/api/lab/descent", settings);
      if (mine !== asked) return;
      path = answer;
      shownSteps = 0;
      const loss = path.loss;
      setStatus(`from (${settings.x.toFixed(2)}, ${settings.y.toFixed(2)}): loss ${loss[0].toFixed(3)} \u2192 ` +
        `${loss[loss.length - 1].toFixed(4)} after ${loss.length - 1} steps of ${settings.optimizer}, lr ${settings.lr}`);
      walk();
    } catch (error) {
      const field = form.elements[error.message.split(/[ :]/)[0]];
      if (field) field.classList.add("invalid");
      setStatus(error.message, true);
    }
    drawAll();
  }

  function walk() {
    stopWalking();
    if (!path) return;
    if (shownSteps >= path.loss.length - 1) shownSteps = 0;
    $("g-play").textContent = "Pause";
    timer = setInterval(() => {
      shownSteps += 1;
      if (shownSteps >= path.loss.length - 1) stopWalking();
      drawAll();
    }, 120);
  }

  function stopWalking() {
    clearInterval(timer);
    timer = null;
    $("g-play").textContent = "Play";
  }

  // A slice of the MNIST MLP: its surface, and the path its training took in that plane.
  async function showSurface(name) {
    stopWalking();
    const sliced = name !== "two-weights";
    for (const field of form.querySelectorAll("fieldset:nth-of-type(2) input, fieldset:nth-of-type(2) select")) field.disabled = sliced;
    form.elements.momentum.disabled = sliced || form.elements.optimizer.value !== "momentum";
    if (!sliced) {
      grid = twoWeights;
      levels = quantileLevels(grid.loss);
      await descend();
      return;
    }
    setStatus("training an MLP for 5 epochs and slicing its loss (the first time: about 10 s)...");
    try {
      const response = await fetch(`/api/lab/surface?name=${name}`);
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `the server answered ${response.status}`);
      if (form.elements.surface.value !== name) return;
      grid = answer;
      levels = quantileLevels(grid.loss);
      path = {...grid.path, gradient_norm: grid.path.loss.map(() => NaN)};
      shownSteps = 0;
      setStatus(`MLP ${grid.mlp}, ${(100 * grid.test_acc).toFixed(2)}% on the test set: the loss of 2,000 training ` +
        `images on a plane through its trained weights (at 0, 0), which holds ${(100 * grid.captured).toPrecision(2)}% ` +
        "of its training path; the path walks from the initial weights to the trained ones.");
      walk();
    } catch (error) {
      setStatus(error.message, true);
    }
    drawAll();
  }

  function onContourClick(event) {
    if (grid !== twoWeights) {
      setStatus("Descent starts where you click on the two-weight surface; this slice shows the path training took.");
      return;
    }
    const g = contourGeometry();
    const rect = g.canvas.getBoundingClientRect();
    const [w1, w2] = g.w((event.clientX - rect.left) * g.size / rect.width, (event.clientY - rect.top) * g.size / rect.height);
    form.elements.x.value = w1.toFixed(2);
    form.elements.y.value = w2.toFixed(2);
    descend();
  }

  function onDrag(event) {
    if (!dragging) return;
    view.turn = dragging.turn + (event.clientX - dragging.x) * 0.01;
    view.tilt = Math.min(1.5, Math.max(0.05, dragging.tilt + (event.clientY - dragging.y) * 0.01));
    drawSurface();
  }

  panels.gradient = {
    async enter() {
      if (!started) {
        started = true;
        grid = twoWeights = await (await fetch("/api/lab/surface")).json();
        levels = quantileLevels(grid.loss);
        form.elements.optimizer.replaceChildren(...["sgd", "momentum", "adam"].map((name) => new Option(name, name)));
        form.elements.surface.replaceChildren(...Object.entries(SURFACES).map(([name, title]) => new Option(title, name)));
        delete grid.defaults.seed;  // the figure's data
        grid.defaults.lr = Number(grid.rates.good.toPrecision(3));
        form.addEventListener("change", (event) => {
          for (const field of form.elements) field.classList.remove("invalid");
          if (event.target.name === "surface") showSurface(event.target.value);
          else descend();
        });
        form.addEventListener("submit", (event) => event.preventDefault());
        $("g-contour").addEventListener("click", onContourClick);
        const surface = $("g-surface");
        surface.addEventListener("pointerdown", (event) => {
          surface.setPointerCapture(event.pointerId);
          dragging = {x: event.clientX, y: event.clientY, ...view};
        });
        surface.addEventListener("pointermove", onDrag);
        surface.addEventListener("pointerup", () => { dragging = null; });
        $("g-play").addEventListener("click", () => (timer ? stopWalking() : walk()));
        $("g-step").addEventListener("click", () => {
          stopWalking();
          if (path && shownSteps < path.loss.length - 1) shownSteps += 1;
          drawAll();
        });
      }
      toForm(settingsFromUrl(twoWeights.defaults));
      form.elements.surface.value = "two-weights";
      await showSurface("two-weights");
    },
    async leave() { stopWalking(); },
    redraw: drawAll,
    play() { $("g-play").click(); },
  };
}
