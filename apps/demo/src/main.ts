// The demo page: pick a backend, load the bundled (or a user's) checkpoint, and generate from
// the default prompt at once, so the page opens on a finished example; the user can then edit
// and regenerate. A generation routes the prompt teacher-forced (top-k and causal side by
// side), then decodes token by token, colouring the text by per-token depth and drawing which
// blocks processed each token. body[data-state] tells tests where the page is:
// loading -> ready -> generating -> done (or error); body[data-runs] counts finished runs.
import "./style.css";
import * as tf from "@tensorflow/tfjs";
import { routedTokens } from "@mixdepth/core";
import { parseBackendRequest, selectBackend } from "./backend.js";
import { fetchCheckpoint, readCheckpointFiles, type LoadedCheckpoint } from "./checkpoint.js";
import { analyticDense, renderCompare, type CompareRun } from "./compare-panel.js";
import { decode, maxNewTokens, prefillCells, type DecodeStep } from "./decode.js";
import { DepthText, renderDepthLegend } from "./depth-text.js";
import { tokenLabel } from "./token-label.js";
import { mapBlocks, teacherForced } from "./prompt-routing.js";
import { RoutingMap, el, type MapCell, type RoutedFraction } from "./routing-map.js";
import { DEFAULT_SETTINGS, SETTING_RULES, parseSettings, type SamplingSettings } from "./sampling.js";

type Slot = "mod" | "dense";
type PageState = "loading" | "ready" | "generating" | "done" | "error";

const $ = <T extends HTMLElement>(sel: string): T => {
  const e = document.querySelector<T>(sel);
  if (!e) throw new Error(`page is missing ${sel}`);
  return e;
};

const models: Record<Slot, LoadedCheckpoint | null> = { mod: null, dense: null };
let abort: AbortController | null = null;

function setState(s: PageState): void {
  document.body.dataset.state = s;
  const busy = s === "generating" || s === "loading";
  $<HTMLButtonElement>("#generate").disabled = busy || !models.mod;
  $<HTMLButtonElement>("#stop").disabled = s !== "generating";
  // Swapping a model mid-generation would dispose weights the decoder is using.
  for (const input of document.querySelectorAll<HTMLInputElement>(".checkpoint input[type=file]")) input.disabled = busy;
}

function showError(where: HTMLElement, err: unknown): void {
  where.textContent = err instanceof Error ? err.message : String(err);
}

function describeModel(m: LoadedCheckpoint): string {
  const c = m.transformer.config;
  const routed = c.routing.blocks.length
    ? `MoD blocks ${c.routing.blocks.join(", ")} at capacity ${(100 * c.routing.capacity).toFixed(1)} % (${c.routing.causal} at sampling time)`
    : "dense (no routed blocks)";
  const size = `${(m.bytes / 1024).toFixed(0)} KiB${m.step === null ? "" : `, trained ${m.step} steps`}`;
  return `${m.name}: ${c.family}, ${c.nLayers} blocks, d=${c.dModel}, ${c.nHeads} heads, context ${c.contextLength}, ${m.tokenizer.kind} tokenizer; ${routed}; ${size}.`;
}

function setModel(slot: Slot, m: LoadedCheckpoint | null): void {
  models[slot]?.transformer.dispose();
  models[slot] = m;
  const box = $(`#ckpt-${slot}`);
  const status = box.querySelector<HTMLElement>(".ckpt-status") as HTMLElement;
  status.replaceChildren();
  box.dataset.loaded = String(m !== null);
  if (!m) {
    status.textContent = "None loaded.";
    return;
  }
  if (!m.trained) {
    const badge = el("strong", "badge untrained", "untrained");
    badge.title = "random-init weights: the routing is real, the text is noise";
    status.append(badge, " ");
  }
  status.append(describeModel(m));
  if (m.description) status.append(el("span", "hint", ` ${m.description}`));
}

async function loadBundled(): Promise<void> {
  const r = await fetch("checkpoints/index.json");
  if (!r.ok) throw new Error(`checkpoints/index.json: HTTP ${r.status}`);
  const index = (await r.json()) as Partial<Record<Slot, string>>;
  for (const slot of ["mod", "dense"] as const) {
    const dir = index[slot];
    if (dir) setModel(slot, await fetchCheckpoint(`bundled ${slot}`, dir));
  }
}

function wireCheckpointInput(slot: Slot): void {
  const box = $(`#ckpt-${slot}`);
  const input = box.querySelector<HTMLInputElement>("input[type=file]") as HTMLInputElement;
  const drop = box.querySelector<HTMLElement>(".drop") as HTMLElement;
  const status = box.querySelector<HTMLElement>(".ckpt-status") as HTMLElement;
  const load = async (files: File[]) => {
    if (!files.length) return;
    status.textContent = `Reading ${files.map((f) => f.name).join(", ")}…`;
    try {
      setModel(slot, await readCheckpointFiles(files.map((f) => f.name).join(" + "), files));
    } catch (err) {
      status.textContent = "";
      status.append(el("span", "error", `Could not load: ${err instanceof Error ? err.message : String(err)}`));
    }
    setState(document.body.dataset.state === "loading" ? "ready" : (document.body.dataset.state as PageState));
  };
  input.addEventListener("change", () => void load([...(input.files ?? [])]));
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    void load([...(e.dataTransfer?.files ?? [])]);
  });
}

function fillSettings(s: SamplingSettings): void {
  for (const key of Object.keys(SETTING_RULES) as (keyof SamplingSettings)[]) $<HTMLInputElement>(`#${key}`).value = String(s[key]);
}

function readSettings(): SamplingSettings {
  const values = {} as Record<keyof SamplingSettings, string>;
  for (const key of Object.keys(SETTING_RULES) as (keyof SamplingSettings)[]) values[key] = $<HTMLInputElement>(`#${key}`).value;
  return parseSettings(values);
}

/** Lets the browser paint between decode steps. */
const nextFrame = () => new Promise<void>((r) => setTimeout(r, 0));

function columnsFor(ids: readonly number[], cells: MapCell[][], label: (id: number) => string) {
  return ids.map((id, i) => ({ label: label(id), position: i, cells: cells[i] as MapCell[] }));
}

async function generate(): Promise<void> {
  const formError = $("#form-error");
  formError.textContent = "";
  const mod = models.mod;
  if (!mod) return;
  let settings: SamplingSettings;
  const prompt = $<HTMLTextAreaElement>("#prompt").value;
  let ids: number[];
  try {
    settings = readSettings();
    ids = Array.from(mod.tokenizer.encode(prompt));
    if (!ids.length) throw new Error("prompt: type at least one character");
    const ctx = mod.transformer.config.contextLength;
    if (ids.length > ctx) throw new Error(`prompt: ${ids.length} tokens is longer than the model's context of ${ctx}`);
    const room = maxNewTokens(mod.transformer, ids.length);
    if (settings.maxTokens > room) throw new RangeError(`maxTokens: ${settings.maxTokens} does not fit the context of ${ctx} after a ${ids.length}-token prompt (at most ${room})`);
  } catch (err) {
    showError(formError, err);
    return;
  }
  setState("generating");
  const controller = new AbortController();
  abort = controller;
  try {
    await runGeneration(mod, prompt, ids, settings, controller.signal);
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
    setState("done");
  } catch (err) {
    setState("error");
    showError(formError, err);
    console.error(err);
  } finally {
    abort = null;
  }
}

/** Prompt maps, streamed decoding, then the dense comparison. Throws on failure. */
async function runGeneration(mod: LoadedCheckpoint, prompt: string, ids: number[], settings: SamplingSettings, signal: AbortSignal): Promise<void> {
  const model = mod.transformer;
  const blocks = mapBlocks(model);
  const label = (id: number) => tokenLabel(mod.tokenizer, id);

  // Prompt, teacher-forced: top-k and causal side by side.
  const promptMaps = $("#prompt-maps");
  promptMaps.replaceChildren();
  for (const routing of ["topk", "causal"] as const) {
    const k = routedTokens(model.config.routing.capacity, ids.length);
    const map = new RoutingMap({
      title: routing === "topk" ? "Top-k (training time)" : `Causal (sampling time, ${model.config.routing.causal})`,
      caption:
        routing === "topk"
          ? `Each MoD block takes exactly k = ${k} of the ${ids.length} prompt tokens.`
          : "Each MoD block decides per token from the tokens so far; the count can differ from k.",
      blocks,
      fractionSource: "counted from the map",
    });
    map.root.dataset.map = `prompt-${routing}`;
    for (const col of columnsFor(ids, teacherForced(model, ids, routing), label)) map.addColumn({ ...col, kind: "prompt" });
    map.setFractions();
    promptMaps.append(map.root);
  }

  // The sequence as the sampler decodes it: prompt (prefill) and generated tokens, streaming.
  const seqMap = new RoutingMap({
    title: "Prompt and generated tokens, as decoded by @mixdepth/sampler (causal routing, KV cache)",
    caption:
      "Prompt columns (grey labels) come from the prefill; each generated token gets its column when it is fed back to the model, " +
      "so the newest token has none yet. A filled cell: the block processed the token (and cached its K/V); empty: the token skipped the block on the residual stream.",
    blocks,
    fractionSource: "reported by the sampler, prefill included",
  });
  seqMap.root.dataset.map = "generated";
  $("#gen-map").replaceChildren(seqMap.root);
  const prefill = prefillCells(model, ids);
  for (const col of columnsFor(ids, prefill, label)) seqMap.addColumn({ ...col, kind: "prompt" });
  // The text, coloured by depth from the same cells as the map.
  renderDepthLegend($("#depth-legend"), blocks);
  const text = new DepthText($(".prompt-text"), $(".gen-text"), $("#token-detail"), blocks, mod.tokenizer);
  ids.forEach((id, i) => text.append(id, "prompt", prefill[i] ?? null));
  const progress = $("#progress");
  const generated: number[] = [];
  const onStep = async (s: DecodeStep) => {
    generated.push(s.token);
    text.append(s.token, "generated");
    const fedToken = generated[s.step - 1];
    if (s.fed && fedToken !== undefined) {
      seqMap.addColumn({ label: label(fedToken), position: s.fed.position, cells: s.fed.cells, kind: "generated" });
      text.setCells(s.fed.position, s.fed.cells);
    }
    seqMap.setFractions(s.fractions);
    progress.textContent = `${generated.length} / ${settings.maxTokens} tokens, last step ${s.ms.toFixed(1)} ms`;
    await nextFrame();
  };
  const result = await decode(model, ids, settings, onStep, signal);
  const shown = seqMap.setFractions(result.fractions);
  const genSection = $("#gen-map");
  genSection.dataset.generated = String(result.tokens.length);
  genSection.dataset.promptTokens = String(ids.length);
  genSection.dataset.samplerFractions = JSON.stringify(result.fractions);

  // Dense vs MoD, timed over the plain decode steps (see DecodeResult.decodeMs).
  const meanFraction = (fs: readonly RoutedFraction[]) => (fs.length ? fs.reduce((a, f) => a + f.realized, 0) / fs.length : 1);
  const modRun: CompareRun = {
    label: `MoD (${mod.name})`,
    config: model.config,
    ms: result.decodeMs,
    routedFraction: meanFraction(shown),
    startPosition: ids.length,
    measured: true,
  };
  let denseRun = analyticDense(model.config, ids.length);
  const dense = models.dense;
  if (dense && !signal.aborted) {
    progress.textContent = "Timing the dense model on the same prompt and settings…";
    await nextFrame();
    // Like for like: the MoD model is timed again the way the dense one is (warm, no drawing
    // between steps). The visible run above was the page's first, drawing as it went: measured
    // 4.0 against 2.6 ms/token for dense, while the same checkpoints decode in Node at 1.1
    // (MoD) against 1.4 ms/token.
    const again = await decode(model, ids, { ...settings, maxTokens: result.tokens.length }, () => nextFrame(), signal);
    modRun.ms = again.decodeMs;
    const denseIds = Array.from(dense.tokenizer.encode(prompt));
    const n = Math.min(result.tokens.length, maxNewTokens(dense.transformer, denseIds.length));
    const d = await decode(dense.transformer, denseIds, { ...settings, maxTokens: n }, () => nextFrame(), signal);
    denseRun = { label: `dense (${dense.name})`, config: dense.transformer.config, ms: d.decodeMs, routedFraction: 1, startPosition: denseIds.length, measured: true };
  }
  renderCompare($("#compare"), modRun, denseRun);
  progress.textContent = `${generated.length} tokens generated; ${tf.memory().numTensors} tensors live after generation.`;
}

async function start(): Promise<void> {
  fillSettings(DEFAULT_SETTINGS);
  wireCheckpointInput("mod");
  wireCheckpointInput("dense");
  $<HTMLFormElement>("#generate-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void generate();
  });
  $<HTMLButtonElement>("#stop").addEventListener("click", () => abort?.abort());
  const backendOut = $("#backend");
  try {
    const choice = await selectBackend(parseBackendRequest(new URLSearchParams(location.search).get("backend")));
    backendOut.textContent = choice.line;
    backendOut.dataset.backend = choice.name;
  } catch (err) {
    backendOut.textContent = err instanceof Error ? err.message : String(err);
    setState("error");
    console.error(err);
    return;
  }
  try {
    await loadBundled();
  } catch (err) {
    const status = $("#ckpt-mod .ckpt-status");
    status.replaceChildren(el("span", "error", `Bundled checkpoint failed to load: ${err instanceof Error ? err.message : String(err)}`));
    console.error(err);
  }
  setState("ready");
  // Open on a finished example: generate from the default prompt, with as many tokens as
  // the default asks for and the bundled model's context allows.
  const mod = models.mod;
  if (mod) {
    const promptLength = mod.tokenizer.encode($<HTMLTextAreaElement>("#prompt").value).length;
    const room = maxNewTokens(mod.transformer, promptLength);
    if (room < DEFAULT_SETTINGS.maxTokens) $<HTMLInputElement>("#maxTokens").value = String(Math.max(1, room));
    await generate();
  }
}

void start();
