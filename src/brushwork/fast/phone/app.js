// brushwork on the phone: the fast mode's two ONNX networks run here, in the browser
// (onnxruntime-web, WebAssembly). Images never leave the device.
"use strict";

// The painting is read at 3/4 of the output's long side, and never below 320 px (brushwork's
// FAST_STYLE_SCALE and FAST_STYLE_MIN_SIDE): the decoder learned from painting crops of 192-256 px.
const STYLE_SCALE = 0.75, STYLE_MIN_SIDE = 320;
const styleSide = (size) => Math.max(STYLE_MIN_SIDE, Math.round(size * STYLE_SCALE));
// A mirrored border around the photo, cut off again afterwards: VGG's zero padding makes the
// picture's edges unlike anything the decoder was trained on, and it drew streaks there
// (brushwork's EDGE_MARGIN, the same on the desktop).
const EDGE_MARGIN = 16;
const $ = (id) => document.getElementById(id);
const state = { content: null, style: null, styleNet: null, transferNet: null, vectorKey: null, vectorSide: 0,
                vector: null };

ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;

function setStatus(text) { $("status").textContent = text; }

async function loadModels() {
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
  [state.styleNet, state.transferNet] = await Promise.all([
    ort.InferenceSession.create("models/style.onnx", options),
    ort.InferenceSession.create("models/transfer.onnx", options)]);
  setStatus("Pick a photo and a painting.");
  updateButton();
}

function updateButton() { $("go").disabled = !(state.content && state.style && state.transferNet); }

function loadPicked(input, key, preview) {
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      state[key] = bitmap;
      if (key === "style") state.vectorKey = null;
      $(preview).src = URL.createObjectURL(file);
      $(preview).hidden = false;
      updateButton();
    } catch (error) {
      setStatus(`That file could not be read as an image (${error.message || error}).`);
    }
  });
}

// Index `i` mirrored into 0..n-1 (reflection without repeating the edge pixel, as torch's "reflect").
function mirror(i, n) {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const j = ((i % period) + period) % period;
  return j < n ? j : period - j;
}

// The size an image is drawn at for `longSide` px: both sides rounded to multiples of 8, as the network needs.
function fitSize(bitmap, longSide) {
  const scale = longSide / Math.max(bitmap.width, bitmap.height);
  return [Math.max(8, Math.round(bitmap.width * scale / 8) * 8), Math.max(8, Math.round(bitmap.height * scale / 8) * 8)];
}

// An image drawn at `longSide` px (see fitSize), inside a mirrored border `margin` px wide (a
// multiple of 8 too) -> NCHW float32 RGB in [0, 1].
function toTensor(bitmap, longSide, margin = 0) {
  const [width, height] = fitSize(bitmap, longSide);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height).data;
  const outWidth = width + 2 * margin, outHeight = height + 2 * margin;
  const plane = outWidth * outHeight;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < outHeight; y++) {
    const row = mirror(y - margin, height) * width;
    for (let x = 0; x < outWidth; x++) {
      const source = 4 * (row + mirror(x - margin, width));
      const i = y * outWidth + x;
      data[i] = pixels[source] / 255;
      data[plane + i] = pixels[source + 1] / 255;
      data[2 * plane + i] = pixels[source + 2] / 255;
    }
  }
  return new ort.Tensor("float32", data, [1, 3, outHeight, outWidth]);
}

// The network's output, less the `margin` px border, drawn onto `canvas`.
function drawTensor(tensor, canvas, margin = 0) {
  const [, , fullHeight, fullWidth] = tensor.dims;
  const width = fullWidth - 2 * margin, height = fullHeight - 2 * margin;
  const plane = fullWidth * fullHeight;
  const data = tensor.data;
  const image = new ImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y + margin) * fullWidth + x + margin, o = 4 * (y * width + x);
      image.data[o] = Math.round(data[i] * 255);
      image.data[o + 1] = Math.round(data[plane + i] * 255);
      image.data[o + 2] = Math.round(data[2 * plane + i] * 255);
      image.data[o + 3] = 255;
    }
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

// brushwork's coarse pass (`coarse_pass`): the photo painted at half size, enlarged and blended
// into the photo at `share`, for the full-size pass to paint over (larger painted shapes).
async function withCoarsePass(share, size, strength) {
  const small = toTensor(state.content, size / 2, EDGE_MARGIN);
  const out = await state.transferNet.run({ content_image: small, style_vector: state.vector, strength });
  const coarse = new OffscreenCanvas(1, 1);
  drawTensor(out.stylized_image, coarse, EDGE_MARGIN);
  const [width, height] = fitSize(state.content, size);
  const blend = new OffscreenCanvas(width, height);
  const context = blend.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(state.content, 0, 0, width, height);
  context.globalAlpha = share;
  context.drawImage(coarse, 0, 0, width, height);
  return toTensor(blend, Math.max(width, height), EDGE_MARGIN);
}

async function stylize() {
  $("go").disabled = true;
  try {
    const started = performance.now();
    const size = Number($("size").value), side = styleSide(size);
    if (state.vectorKey !== state.style || state.vectorSide !== side) {   // once per painting and size
      setStatus("Reading the painting…");
      const out = await state.styleNet.run({ style_image: toTensor(state.style, side) });
      state.vector = out.style_vector;
      state.vectorKey = state.style;
      state.vectorSide = side;
    }
    setStatus("Painting…");
    const strength = new ort.Tensor("float32", new Float32Array([$("strength").value / 100]), [1]);
    const share = Number($("bold").value) / 100;
    const content = share > 0 ? await withCoarsePass(share, size, strength) : toTensor(state.content, size, EDGE_MARGIN);
    const out = await state.transferNet.run({ content_image: content, style_vector: state.vector, strength });
    const canvas = $("result");
    drawTensor(out.stylized_image, canvas, EDGE_MARGIN);
    canvas.hidden = false;
    $("save").href = canvas.toDataURL("image/png");
    $("save").hidden = false;
    setStatus(`Done in ${((performance.now() - started) / 1000).toFixed(1)} s, on this device.`);
  } catch (error) {
    setStatus(`Something went wrong: ${error.message || error}`);
  } finally {
    updateButton();
  }
}

loadPicked($("content-camera"), "content", "content-preview");
loadPicked($("content-file"), "content", "content-preview");
loadPicked($("style-file"), "style", "style-preview");
$("strength").addEventListener("input", () => { $("strength-value").textContent = `${$("strength").value}%`; });
$("bold").addEventListener("input", () => {
  $("bold-value").textContent = $("bold").value === "0" ? "off" : `${$("bold").value}%`;
});
$("go").addEventListener("click", stylize);
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
loadModels().catch((error) => setStatus(`The model could not be loaded: ${error.message || error}`));
