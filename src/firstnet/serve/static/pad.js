// The drawing pad and the probability bars, shared by the drawing page (app.js) and the lab's
// MNIST panel (lab/static/mnist.js): white strokes on an opaque black canvas, sent as PNG.
"use strict";

const INK_WIDTH = 20;  // stroke width in canvas pixels (the pad is 280 wide, so about 2 MNIST pixels)

// A pad on `canvas`: `onDraw()` while a stroke grows, `onStrokeEnd()` when it ends.
function makePad(canvas, {onDraw = () => {}, onStrokeEnd = () => {}} = {}) {
  const ctx = canvas.getContext("2d");
  const strokes = [];  // each stroke: an array of [x, y] points in canvas pixels
  let drawing = null;  // the stroke under the pointer, if any

  function redraw() {
    ctx.fillStyle = "#000";  // opaque: the PNG has no transparency to guess about
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = INK_WIDTH;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const stroke of strokes) {
      ctx.beginPath();
      if (stroke.length === 1) {
        ctx.arc(stroke[0][0], stroke[0][1], INK_WIDTH / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.moveTo(stroke[0][0], stroke[0][1]);
      for (const [x, y] of stroke.slice(1)) ctx.lineTo(x, y);
      ctx.stroke();
    }
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    return [(event.clientX - rect.left) * canvas.width / rect.width, (event.clientY - rect.top) * canvas.height / rect.height];
  }

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== undefined && event.button > 0) return;  // left button, pen tip or touch only
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = [point(event)];
    strokes.push(drawing);
    redraw();
    onDraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    event.preventDefault();
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const e of events.length ? events : [event]) drawing.push(point(e));
    redraw();
    onDraw();
  });
  const end = () => {
    if (!drawing) return;
    drawing = null;
    onStrokeEnd();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  redraw();

  return {
    get empty() { return strokes.length === 0; },
    clear() { strokes.length = 0; drawing = null; redraw(); },
    undo() { strokes.pop(); drawing = null; redraw(); },
    png() { return new Promise((resolve) => canvas.toBlob(resolve, "image/png")); },
  };
}

// Ten bars in `container`, numbered 0-9.
function buildBars(container) {
  for (let digit = 0; digit < 10; digit++) {
    const column = document.createElement("div");
    column.className = "bar";
    column.innerHTML = `<span class="value"></span><span class="track"><span class="fill"></span></span>` +
      `<span class="digit">${digit}</span>`;
    container.appendChild(column);
  }
}

// `names`: the class names of the model's data set (the bars are numbered; a bar's title names it).
function showBars(container, probabilities, predicted, names = null) {
  const name = (index) => (names ? names[index] : String(index));
  probabilities.forEach((p, digit) => {
    const column = container.children[digit];
    column.querySelector(".fill").style.height = `${(100 * p).toFixed(1)}%`;
    column.querySelector(".value").textContent = p >= 0.005 ? `${Math.round(100 * p)}%` : "";
    column.classList.toggle("top", digit === predicted);
    column.title = `${name(digit)}: ${(100 * p).toFixed(2)}%`;
  });
  container.setAttribute("aria-label", "probabilities: " +
    probabilities.map((p, d) => `${name(d)} ${(100 * p).toFixed(1)}%`).join(", "));
}

// A 28x28 image (rows of values in [0, 1]) on a 28x28 canvas, as gray levels.
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
