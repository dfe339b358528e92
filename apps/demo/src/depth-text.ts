// The prompt and generated text coloured by per-token depth (./depth.ts): one span per
// token, its background on the model's depth scale, with a legend. Hovering or focusing a
// token (one tab stop; arrow keys, Home and End move between tokens) shows which blocks
// processed it in the live detail line. Depths come from the same cells as the routing map
// of the decoded sequence (the sampler's trace), so the two always agree; the last sampled
// token is never fed back and stays uncoloured.
//
// DOM for tests: spans `span.tok[data-position][data-kind]`, with `data-depth` and
// `data-blocks` (processed block indices, comma-separated) once the model has processed the
// token; legend items `li[data-depth]`.
import { depthLegend, depthScale, depthStyle, describeDepth, processedBlocks, tokenDepth } from "./depth.js";
import { el, type MapBlock, type MapCell } from "./routing-map.js";
import { tokenPieces, type Tokenizer } from "@mixdepth/text";
import { tokenLabel } from "./token-label.js";

interface Token {
  id: number;
  span: HTMLSpanElement;
  cells: MapCell[] | null;
}

export class DepthText {
  private readonly tokens: Token[] = [];
  private focusAt = 0;

  constructor(
    private readonly promptHost: HTMLElement,
    private readonly genHost: HTMLElement,
    private readonly detail: HTMLElement,
    private readonly blocks: readonly MapBlock[],
    private readonly tokenizer: Tokenizer,
  ) {
    promptHost.replaceChildren();
    genHost.replaceChildren();
    detail.textContent = "Hover or focus a token to see which blocks processed it.";
    const box = promptHost.parentElement;
    if (box) box.onkeydown = (e) => this.onKey(e);
  }

  /** Appends a token; `cells` (one per block) when the model has already processed it. */
  append(id: number, kind: "prompt" | "generated", cells: MapCell[] | null = null): void {
    const position = this.tokens.length;
    const span = el("span", `tok ${kind}`);
    span.dataset.position = String(position);
    span.dataset.kind = kind;
    span.tabIndex = position === this.focusAt ? 0 : -1;
    span.addEventListener("mouseenter", () => this.show(position));
    span.addEventListener("focus", () => this.show(position));
    this.tokens.push({ id, span, cells: null });
    (kind === "prompt" ? this.promptHost : this.genHost).append(span);
    this.setCells(position, cells);
    this.refreshText();
  }

  /** Records how each block handled the token at `position` (when it is fed to the model). */
  setCells(position: number, cells: MapCell[] | null): void {
    const t = this.tokens[position];
    if (!t) throw new Error(`depth text: no token at position ${position}`);
    t.cells = cells;
    const s = t.span;
    s.title = describeDepth(tokenLabel(this.tokenizer, t.id), position, this.blocks, cells);
    s.classList.remove("depth-none", "depth-min", "depth-mid", "depth-max");
    if (!cells) {
      s.classList.add("depth-none");
      s.removeAttribute("style");
      delete s.dataset.depth;
      delete s.dataset.blocks;
      return;
    }
    const depth = tokenDepth(this.blocks, cells);
    const style = depthStyle(depth, depthScale(this.blocks));
    s.classList.add(style.className);
    s.style.background = style.background;
    s.style.color = style.color;
    s.dataset.depth = String(depth);
    s.dataset.blocks = processedBlocks(this.blocks, cells).join(",");
    if (this.focusAt === position && this.detail.dataset.position === String(position)) this.show(position);
  }

  // Pieces of a multi-byte character move when its last byte arrives: rewrite what changed.
  private refreshText(): void {
    const pieces = tokenPieces(this.tokenizer, this.tokens.map((t) => t.id));
    this.tokens.forEach((t, i) => {
      const p = pieces[i] ?? "";
      if (t.span.textContent !== p) t.span.textContent = p;
    });
  }

  private show(position: number): void {
    const t = this.tokens[position];
    if (!t) return;
    this.detail.dataset.position = String(position);
    this.detail.textContent = t.span.title;
  }

  private onKey(e: KeyboardEvent): void {
    const last = this.tokens.length - 1;
    const moves: Record<string, number> = { ArrowLeft: this.focusAt - 1, ArrowRight: this.focusAt + 1, Home: 0, End: last };
    const to = moves[e.key];
    if (to === undefined || last < 0) return;
    e.preventDefault();
    const next = Math.max(0, Math.min(last, to));
    const from = this.tokens[this.focusAt];
    if (from) from.span.tabIndex = -1;
    const t = this.tokens[next] as Token;
    t.span.tabIndex = 0;
    this.focusAt = next;
    t.span.focus();
  }
}

/** The legend: one swatch per depth this model allows, and the not-yet-processed token. */
export function renderDepthLegend(host: HTMLElement, blocks: readonly MapBlock[]): void {
  const scale = depthScale(blocks);
  const items = depthLegend(scale).map((entry) => {
    const li = el("li");
    li.dataset.depth = String(entry.depth);
    const sw = el("span", `swatch ${entry.style.className}`);
    sw.style.background = entry.style.background;
    sw.setAttribute("aria-hidden", "true");
    li.append(sw, entry.label);
    return li;
  });
  const none = el("li");
  none.dataset.depth = "none";
  const sw = el("span", "swatch depth-none");
  sw.setAttribute("aria-hidden", "true");
  none.append(sw, "the last sampled token: not processed yet");
  const list = el("ul");
  list.append(...items, none);
  host.replaceChildren(el("span", "legend-title", "Depth, blocks that processed the token:"), list);
}
