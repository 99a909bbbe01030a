// brushwork on the phone: the fast mode's two ONNX networks run here, in the browser
// (onnxruntime-web, WebAssembly). Images never leave the device.
"use strict";

const STYLE_SIZE = 256;           // long side the painting is read at (its statistics barely change above)
const $ = (id) => document.getElementById(id);
const state = { content: null, style: null, styleNet: null, transferNet: null, vectorKey: null, vector: null };

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

// An image drawn at `longSide` px (both sides rounded to multiples of 8, as the network needs)
// -> NCHW float32 RGB in [0, 1].
function toTensor(bitmap, longSide) {
  const scale = longSide / Math.max(bitmap.width, bitmap.height);
  const width = Math.max(8, Math.round(bitmap.width * scale / 8) * 8);
  const height = Math.max(8, Math.round(bitmap.height * scale / 8) * 8);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  context.drawImage(bitmap, 0, 0, width, height);
  const pixels = context.getImageData(0, 0, width, height).data;
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = pixels[4 * i] / 255;
    data[plane + i] = pixels[4 * i + 1] / 255;
    data[2 * plane + i] = pixels[4 * i + 2] / 255;
  }
  return new ort.Tensor("float32", data, [1, 3, height, width]);
}

function drawTensor(tensor, canvas) {
  const [, , height, width] = tensor.dims;
  const plane = width * height;
  const data = tensor.data;
  const image = new ImageData(width, height);
  for (let i = 0; i < plane; i++) {
    image.data[4 * i] = Math.round(data[i] * 255);
    image.data[4 * i + 1] = Math.round(data[plane + i] * 255);
    image.data[4 * i + 2] = Math.round(data[2 * plane + i] * 255);
    image.data[4 * i + 3] = 255;
  }
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").putImageData(image, 0, 0);
}

async function stylize() {
  $("go").disabled = true;
  try {
    const started = performance.now();
    if (state.vectorKey !== state.style) {       // a style's vector is computed once
      setStatus("Reading the painting…");
      const out = await state.styleNet.run({ style_image: toTensor(state.style, STYLE_SIZE) });
      state.vector = out.style_vector;
      state.vectorKey = state.style;
    }
    setStatus("Painting…");
    const strength = new ort.Tensor("float32", new Float32Array([$("strength").value / 100]), [1]);
    const content = toTensor(state.content, Number($("size").value));
    const out = await state.transferNet.run({ content_image: content, style_vector: state.vector, strength });
    const canvas = $("result");
    drawTensor(out.stylized_image, canvas);
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
$("go").addEventListener("click", stylize);
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js").catch(() => {});
loadModels().catch((error) => setStatus(`The model could not be loaded: ${error.message || error}`));
