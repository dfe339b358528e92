// The routing map (docs/method.md sections 2-3 made visible): tokens along the columns, every block
// of the model along the rows, one cell per (token, block) saying whether the block
// processed the token. Dense blocks are drawn too (always processed) so a column shows how
// deep each token went; routed blocks carry the router score r_i (and the causal decision's
// probability) on hover (title) and on keyboard focus (aria-label + the live detail line).
// Per routed block the realized routed fraction is shown against the nominal capacity.
// Blocks with a mixture-of-experts MLP (MoE / MoDE, method section 6) also show, per cell,
// which real experts processed the token, or that none did (its MLP was skipped: the no-op path).
//
// The DOM carries data- attributes for tests: the table has data-tokens / data-blocks, each
// cell data-token / data-block / data-processed, each fraction data-block / data-realized /
// data-nominal / data-count.

export interface MapBlock {
  index: number;
  routed: boolean;
  /** Nominal capacity (fraction of tokens), 1 for dense blocks. */
  capacity: number;
  /** Real experts of the block's MoE MLP; absent for a dense MLP. */
  experts?: number;
}

export interface MapCell {
  processed: boolean;
  /** Router score r_i (routed blocks only). */
  score?: number;
  /** Causal routing: probability behind the decision (sigmoid of the score or the predictor). */
  probability?: number;
  /** MoE blocks: the real experts that processed the token, ascending ([]: none, the MLP was skipped). */
  experts?: number[];
}

export interface MapColumn {
  label: string;
  /** Position in the whole sequence (prompt + generated). */
  position: number;
  /** One cell per block, in block order. */
  cells: MapCell[];
  /** Drawn differently: prompt tokens vs generated ones. Default "generated". */
  kind?: "prompt" | "generated";
}

export interface RoutedFraction {
  block: number;
  /** Fraction of this map's tokens the block processed. */
  realized: number;
  nominal: number;
  /** Tokens processed / tokens seen. */
  processed: number;
  total: number;
}

/** Realized routed fraction per routed block, counted from the columns. */
export function countFractions(blocks: readonly MapBlock[], columns: readonly MapColumn[]): RoutedFraction[] {
  return blocks.flatMap((b, row) => {
    if (!b.routed) return [];
    const processed = columns.filter((c) => c.cells[row]?.processed).length;
    const total = columns.length;
    return [{ block: b.index, realized: total ? processed / total : 0, nominal: b.capacity, processed, total }];
  });
}

function fmt(x: number | undefined, digits = 3): string {
  return x === undefined ? "n/a" : x.toFixed(digits);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)} %`;
}

/** Text of a cell for title and screen readers. */
export function describeCell(block: MapBlock, col: MapColumn, cell: MapCell): string {
  const where = `token ${JSON.stringify(col.label)} (position ${col.position}), block ${block.index}`;
  const mlp = cell.experts === undefined || !cell.processed ? "" : cell.experts.length ? `; MLP experts ${cell.experts.join(", ")}` : "; MLP skipped (no expert: no-op path)";
  if (!block.routed) return `${where} (dense): processed${mlp}`;
  const p = cell.probability === undefined ? "" : `, p=${fmt(cell.probability)}`;
  return `${where} (routed): ${cell.processed ? "processed" : "skipped"}, router score r=${fmt(cell.score)}${p}${mlp}`;
}

/** What a cell shows of its experts: their indices ("02"), "-" when none took the token, "" for a dense MLP. */
export function expertLabel(cell: MapCell): string {
  if (cell.experts === undefined || !cell.processed) return "";
  return cell.experts.length ? cell.experts.join("") : "-";
}

export interface RoutingMapOptions {
  /** Heading above the map. */
  title: string;
  /** Short explanation under the heading. */
  caption?: string;
  blocks: readonly MapBlock[];
  /** Where the fractions come from, shown in their heading (e.g. "counted from the map", "reported by the sampler"). */
  fractionSource?: string;
}

/** A routing map that can grow column by column (streaming). */
export class RoutingMap {
  readonly root: HTMLElement;
  private readonly table: HTMLTableElement;
  private readonly headRow: HTMLTableRowElement;
  private readonly rows: HTMLTableRowElement[] = [];
  private readonly fractionList: HTMLElement;
  private readonly detail: HTMLElement;
  private readonly blocks: readonly MapBlock[];
  private readonly columns: MapColumn[] = [];
  private focusAt: [number, number] = [0, 0]; // [row, col] of the cell in the tab order

  constructor(options: RoutingMapOptions) {
    this.blocks = options.blocks;
    this.root = el("section", "routing-map");
    const id = `map-${Math.random().toString(36).slice(2, 8)}`;
    const h = el("h3");
    h.id = `${id}-title`;
    h.textContent = options.title;
    this.root.append(h);
    if (options.caption) this.root.append(el("p", "caption", options.caption));

    const scroller = el("div", "map-scroll");
    this.table = el("table", "map-grid") as HTMLTableElement;
    this.table.setAttribute("role", "grid");
    this.table.setAttribute("aria-labelledby", h.id);
    this.table.setAttribute("aria-describedby", `${id}-help`);
    const thead = this.table.createTHead();
    this.headRow = thead.insertRow();
    const corner = el("th", "corner", "block \\ token");
    corner.setAttribute("scope", "col");
    this.headRow.append(corner);
    const body = this.table.createTBody();
    for (const b of this.blocks) {
      const tr = body.insertRow();
      tr.dataset.block = String(b.index);
      const th = el("th", b.routed ? "routed" : "dense", `${b.index} ${b.routed ? "MoD" : "dense"}${b.experts ? " MoE" : ""}`);
      th.setAttribute("scope", "row");
      const moe = b.experts ? `; MLP: ${b.experts} experts` : "";
      th.title = b.routed ? `block ${b.index}: routed, capacity ${pct(b.capacity)}${moe}` : `block ${b.index}: dense, processes every token${moe}`;
      tr.append(th);
      this.rows.push(tr);
    }
    this.table.addEventListener("keydown", (e) => this.onKey(e));
    scroller.append(this.table);
    this.root.append(scroller);

    const help = el("p", "map-help", "Arrow keys move between cells; Home/End jump to the first/last token.");
    help.id = `${id}-help`;
    this.detail = el("p", "map-detail", "Hover or focus a cell to see its router score.");
    this.detail.setAttribute("aria-live", "polite");
    this.root.append(help, this.detail);

    const fr = el("div", "fractions");
    fr.append(el("h4", undefined, `Routed fraction per MoD block${options.fractionSource ? ` (${options.fractionSource})` : ""}`));
    this.fractionList = el("ul");
    fr.append(this.fractionList);
    this.root.append(fr);
    this.updateTableData();
  }

  get size(): { tokens: number; blocks: number } {
    return { tokens: this.columns.length, blocks: this.blocks.length };
  }

  /** Appends one token's column. */
  addColumn(col: MapColumn): void {
    if (col.cells.length !== this.blocks.length) {
      throw new Error(`routing map: column ${col.position} has ${col.cells.length} cells, the model has ${this.blocks.length} blocks`);
    }
    const c = this.columns.length;
    this.columns.push(col);
    // One character per column keeps the grid regular; the full label is in the title.
    const th = el("th", `tok ${col.kind ?? "generated"}`, [...col.label].length === 1 ? col.label : "·");
    th.setAttribute("scope", "col");
    th.title = `position ${col.position}: ${JSON.stringify(col.label)}`;
    this.headRow.append(th);
    this.blocks.forEach((b, r) => {
      const cell = col.cells[r] as MapCell;
      const td = el("td", `cell ${b.routed ? (cell.processed ? "on" : "off") : "dense"}`, expertLabel(cell));
      if (cell.experts !== undefined) td.dataset.experts = cell.experts.join(",");
      td.setAttribute("role", "gridcell");
      td.tabIndex = r === this.focusAt[0] && c === this.focusAt[1] ? 0 : -1;
      td.dataset.token = String(c);
      td.dataset.block = String(b.index);
      td.dataset.processed = String(cell.processed);
      td.dataset.kind = col.kind ?? "generated";
      if (cell.score !== undefined) td.dataset.score = String(cell.score);
      const text = describeCell(b, col, cell);
      td.title = text;
      td.setAttribute("aria-label", text);
      td.addEventListener("focus", () => this.show(r, c));
      td.addEventListener("mouseenter", () => this.show(r, c));
      (this.rows[r] as HTMLTableRowElement).append(td);
    });
    this.updateTableData();
  }

  /**
   * Shows the per-block fractions. `reported` (e.g. the sampler's own statistics) is what
   * is printed when given; otherwise the fractions are counted from the map.
   */
  setFractions(reported?: readonly RoutedFraction[]): RoutedFraction[] {
    const shown = reported ? [...reported] : countFractions(this.blocks, this.columns);
    this.fractionList.replaceChildren(
      ...shown.map((f) => {
        const li = el("li", "fraction");
        li.dataset.block = String(f.block);
        li.dataset.realized = String(f.realized);
        li.dataset.nominal = String(f.nominal);
        li.dataset.count = `${f.processed}/${f.total}`;
        const bar = el("span", "bar");
        bar.setAttribute("aria-hidden", "true");
        const fill = el("span", "fill");
        fill.style.width = `${Math.min(100, 100 * f.realized)}%`;
        const mark = el("span", "nominal");
        mark.style.left = `${Math.min(100, 100 * f.nominal)}%`;
        bar.append(fill, mark);
        li.append(
          el("span", "label", `block ${f.block}`),
          bar,
          el("span", "value", `${pct(f.realized)} realized (${f.processed}/${f.total}) vs ${pct(f.nominal)} nominal`),
        );
        return li;
      }),
    );
    return shown;
  }

  private show(r: number, c: number): void {
    const b = this.blocks[r];
    const col = this.columns[c];
    const cell = col?.cells[r];
    if (b && col && cell) this.detail.textContent = describeCell(b, col, cell);
  }

  private cellAt(r: number, c: number): HTMLElement | null {
    return this.table.querySelector(`td[data-token="${c}"][data-block="${this.blocks[r]?.index}"]`);
  }

  private onKey(e: KeyboardEvent): void {
    const [r0, c0] = this.focusAt;
    const last = this.columns.length - 1;
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [r0, c0 - 1],
      ArrowRight: [r0, c0 + 1],
      ArrowUp: [r0 - 1, c0],
      ArrowDown: [r0 + 1, c0],
      Home: [r0, 0],
      End: [r0, last],
    };
    const to = moves[e.key];
    if (!to || last < 0) return;
    e.preventDefault();
    const r = Math.max(0, Math.min(this.blocks.length - 1, to[0]));
    const c = Math.max(0, Math.min(last, to[1]));
    const from = this.cellAt(r0, c0);
    const next = this.cellAt(r, c);
    if (!next) return;
    if (from) from.tabIndex = -1;
    next.tabIndex = 0;
    next.focus();
    this.focusAt = [r, c];
  }

  private updateTableData(): void {
    this.table.dataset.tokens = String(this.columns.length);
    this.table.dataset.blocks = String(this.blocks.length);
    this.root.dataset.tokens = String(this.columns.length);
    this.root.dataset.blocks = String(this.blocks.length);
  }
}

/** document.createElement with a class and text. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}
