// brushwork web page: pick a photo (or a clip) and a painting, queue a job, follow its progress
// events, show the result (an image, or a video that plays).
// Plain JS, no build step. Controls take their bounds and defaults from GET /config.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { files: { content: null, style: null }, config: null, job: null, abort: null, resultUrl: null };

// ---------------------------------------------------------------------------------------- setup
async function init() {
  try {
    state.config = await (await fetch("/config")).json();
  } catch {
    showError("Cannot reach the server.");
    return;
  }
  const { limits, defaults, choices, auth } = state.config;
  setRange($("size"), 64, Math.min(limits.max_size, 1536), defaults.size ?? 512);
  setRange($("steps"), 5, Math.min(limits.max_steps, 1000), defaults.epochs * defaults.steps_per_epoch);
  $("strength").value = Math.log10(defaults.style_weight).toFixed(1);
  buildColourChoices(choices.preserve_colour, defaults.preserve_colour);
  if (auth) {
    $("key-row").hidden = false;
    $("api-key").value = localStorage.getItem("brushwork-key") || "";
  }
  for (const id of ["strength", "size", "steps"]) $(id).addEventListener("input", showValues);
  showValues();
  setupDrop("content");
  setupDrop("style");
  // Paint gives the fast (feed-forward) result at once where the server has it; Refine then runs
  // the optimizer with the same images and settings.
  state.fast = (choices.mode || []).includes("fast");
  $("form").addEventListener("submit", (event) => { event.preventDefault(); start(state.fast ? "fast" : "optimize"); });
  $("refine").addEventListener("click", () => start("optimize"));
  $("cancel").addEventListener("click", cancel);
  fetch("/version").then((r) => r.json()).then((v) => { $("version").textContent = `brushwork ${v.brushwork} on ${v.device}`; });
}

function setRange(input, min, max, value) {
  input.min = min;
  input.max = Math.max(min, max);
  input.value = Math.min(Math.max(value, min), input.max);
}

function buildColourChoices(values, chosen) {
  const labels = { none: "Painting's colours", luminance: "Photo's colours", histogram: "Photo's palette" };
  const hints = {
    none: "Colours come from the painting",
    luminance: "Transfer brush strokes only (luminance); keep the photo's colours exactly",
    histogram: "Recolour the painting to the photo's colour distribution first",
  };
  for (const value of values) {
    const id = `colour-${value}`;
    const input = Object.assign(document.createElement("input"), { type: "radio", name: "preserve_colour", id, value });
    input.checked = value === chosen;
    const label = Object.assign(document.createElement("label"),
      { htmlFor: id, textContent: labels[value] || value, title: hints[value] || "" });
    $("colour-choices").append(input, label);
  }
}

function styleWeight() {
  return Number((10 ** Number($("strength").value)).toPrecision(2));
}

function showValues() {
  const weight = styleWeight();
  const words = weight < 1 ? "subtle" : weight < 30 ? "balanced" : weight < 300 ? "strong" : "very strong";
  $("strength-out").textContent = `${words} (${weight})`;
  $("size-out").textContent = `${$("size").value} px`;
  $("steps-out").textContent = $("steps").value;
}

// ------------------------------------------------------------------------------------ image picking
function setupDrop(kind) {
  const zone = $(`${kind}-drop`);
  const input = $(`${kind}-input`);
  input.addEventListener("change", () => input.files[0] && pick(kind, input.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => { event.preventDefault(); zone.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    zone.addEventListener(name, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) pick(kind, file);
  });
}

function isVideo(file) {
  return Boolean(file) && (file.type.startsWith("video/") || /\.(mp4|mov|m4v|webm|mkv|avi)$/i.test(file.name));
}

function pick(kind, file) {
  const clip = kind === "content" && isVideo(file);
  if (!file.type.startsWith("image/") && !clip) {
    showError(`${file.name} is not ${kind === "content" ? "an image or a video" : "an image"}.`);
    return;
  }
  hideError();
  state.files[kind] = file;
  const thumb = $(`${kind}-thumb`);
  const video = kind === "content" ? $("content-video") : null;
  for (const element of [thumb, video]) {
    if (element && element.src.startsWith("blob:")) URL.revokeObjectURL(element.src);
  }
  const shown = clip ? video : thumb;
  shown.src = URL.createObjectURL(file);
  thumb.hidden = clip;
  if (video) {
    video.hidden = !clip;
    if (clip) video.play().catch(() => {});
  }
  $(`${kind}-drop`).classList.add("filled");
  $(`${kind}-name`).textContent = file.name;
}

// ------------------------------------------------------------------------------------------ a run
function headers() {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem("brushwork-key", key);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function start(mode) {
  hideError();
  const { content, style } = state.files;
  if (!content || !style) {
    showError(!content ? "Choose a photo first." : "Choose a painting first.");
    return;
  }
  const limit = state.config.limits.max_body_bytes;
  if (content.size + style.size > limit) {
    showError(`The two images are ${mb(content.size + style.size)}; this server accepts at most ${mb(limit)}.`);
    return;
  }
  const steps = Number($("steps").value);
  const clip = isVideo(content);
  const body = new FormData();
  body.append(clip ? "video" : "content_img", content);
  body.append("style_img", style);
  body.append("size", $("size").value);
  body.append("epochs", "5");
  body.append("steps_per_epoch", String(Math.max(1, Math.round(steps / 5))));
  body.append("style_weight", String(styleWeight()));
  body.append("preserve_colour", document.querySelector("input[name=preserve_colour]:checked").value);
  body.append("mode", mode);
  if (mode === "fast") {
    // the slider's default weight is full strength; weaker settings fade toward the photo, stronger
    // ones add a coarse pass (larger painted shapes): 10x the default weight 0.25, 100x 0.5
    const ratio = styleWeight() / state.config.defaults.style_weight;
    body.append("style_strength", String(Math.min(1, ratio)));
    if (ratio > 1) body.append("coarse_pass", Math.min(0.5, Math.log10(ratio) / 4).toFixed(2));
  }
  state.mode = mode;
  state.clip = clip;
  running(true);
  showProgress({ state: "queued", step: 0, total: mode === "fast" && !clip ? 1 : steps, fraction: 0 });
  if (window.matchMedia("(max-width: 860px)").matches) $("progress").scrollIntoView({ behavior: "smooth" });
  try {
    const response = await fetch("/jobs", { method: "POST", body, headers: headers() });
    const job = await response.json();
    if (!response.ok) throw new Error(describe(response, job));
    state.job = job.id;
    await follow(job.id);
  } catch (error) {
    if (error.name !== "AbortError") showError(error.message);
    running(false);
  }
}

// Read the job's server-sent events with fetch (so the API key header can be sent).
async function follow(id) {
  state.abort = new AbortController();
  const response = await fetch(`/jobs/${id}/events`, { headers: headers(), signal: state.abort.signal });
  if (!response.ok) throw new Error(describe(response, await response.json()));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = parseEvent(block);
      if (event && (await handle(event))) return;
    }
  }
  throw new Error("The connection to the server was lost.");
}

function parseEvent(block) {
  let name = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trim());
  }
  return data.length ? { name, data: JSON.parse(data.join("\n")) } : null;
}

// Returns true when the job is over.
async function handle({ name, data }) {
  showProgress(data);
  if (data.preview) {
    $("preview").src = data.preview;
    $("preview").hidden = false;
    $("result").hidden = true;
    $("result-video").hidden = true;
    $("placeholder").hidden = true;
  }
  if (name === "done") {
    await showResult(data);
  } else if (name === "failed") {
    showError(data.error || "The run failed.");
  } else if (name === "cancelled") {
    $("progress-text").textContent = "Cancelled.";
  } else if (name === "gone") {
    showError("The job expired on the server.");
  } else {
    return false;
  }
  running(false);
  return true;
}

async function showResult(job) {
  const response = await fetch(`/jobs/${job.id}/result`, { headers: headers() });
  if (!response.ok) throw new Error(describe(response, await response.json()));
  const blob = await response.blob();
  if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
  state.resultUrl = URL.createObjectURL(blob);
  const video = job.kind === "video";
  const shown = video ? $("result-video") : $("result");
  shown.src = state.resultUrl;
  if (video) {
    await new Promise((resolve) => {
      shown.addEventListener("loadedmetadata", resolve, { once: true });
      shown.addEventListener("error", resolve, { once: true });
    });
    shown.play().catch(() => {});
  } else {
    await shown.decode();
  }
  shown.hidden = false;
  (video ? $("result") : $("result-video")).hidden = true;
  $("preview").hidden = true;
  $("placeholder").hidden = true;
  const stem = (state.files.content?.name || "image").replace(/\.[^.]+$/, "");
  $("download").href = state.resultUrl;
  $("download").download = `${stem}-brushwork.${video ? "mp4" : "png"}`;
  $("download").textContent = video ? "Download MP4" : "Download PNG";
  const how = state.mode === "fast" ? "fast preview" : "optimized";
  const width = video ? shown.videoWidth : shown.naturalWidth;
  const height = video ? shown.videoHeight : shown.naturalHeight;
  const frames = video ? ` · ${job.total} frames` : "";
  $("result-meta").textContent = `${width} × ${height} px${frames} · ${how} · ${job.elapsed.toFixed(1)} s`;
  $("refine").hidden = state.mode !== "fast";
  $("result-bar").hidden = false;
  $("progress-text").textContent = state.mode === "fast" ? "Done. Refine runs the full optimization." : "Done.";
}

async function cancel() {
  if (!state.job) return;
  $("cancel").disabled = true;
  try {
    await fetch(`/jobs/${state.job}`, { method: "DELETE", headers: headers() });
  } finally {
    state.abort?.abort();
    $("progress-text").textContent = "Cancelled.";
    running(false);
  }
}

// --------------------------------------------------------------------------------------- display
function running(on) {
  $("go").disabled = on;
  $("go").textContent = on ? "Painting…" : "Paint";
  $("cancel").hidden = !on;
  $("cancel").disabled = false;
  if (on) $("result-bar").hidden = true;
  else state.job = null;
}

function showProgress(job) {
  $("progress").hidden = false;
  $("fill").style.width = `${Math.round((job.fraction || 0) * 100)}%`;
  let text;
  if (job.state === "queued") text = "Waiting for a free worker…";
  else if (job.state === "running") {
    text = `${job.kind === "video" ? "Frame" : "Step"} ${job.step} of ${job.total}`;
    if (job.eta != null && job.step > 0) text += ` · about ${duration(job.eta)} left`;
  } else text = "";
  if (text) $("progress-text").textContent = text;
}

function describe(response, body) {
  const detail = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
  if (response.status === 503) {
    const wait = response.headers.get("Retry-After");
    return `The server is busy: ${detail}${wait ? ` (try again in ${wait} s)` : ""}`;
  }
  if (response.status === 401) {
    $("key-row").hidden = false;
    return "This server needs an API key: enter it below.";
  }
  // the API names fields as the library does; the page calls them what the person sees
  const friendly = detail.replace(/\bcontent_img\b/g, "Photo").replace(/\bstyle_img\b/g, "Painting");
  return friendly.charAt(0).toUpperCase() + friendly.slice(1);
}

function duration(seconds) {
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function mb(bytes) {
  return `${(bytes / 1048576).toFixed(1)} MB`;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function hideError() {
  $("error").hidden = true;
}

init();
