// Progress output: a one-line bar redrawn in place on a TTY, plain periodic lines otherwise
// (logs, CI, pipes), so redirected output stays readable.

export interface ProgressInfo {
  step: number;
  steps: number;
  loss: number;
  tokensPerSec: number;
  /** Seconds of training so far in this process. */
  elapsed: number;
  /** Step this process started from (resume). */
  startStep: number;
}

export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return "?";
  const s = Math.round(sec);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h${String(m).padStart(2, "0")}m` : m ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

export function eta(p: ProgressInfo): number {
  const done = p.step - p.startStep;
  return done > 0 ? (p.elapsed / done) * (p.steps - p.step) : Number.NaN;
}

export function progressLine(p: ProgressInfo): string {
  return `step ${p.step}/${p.steps}  loss ${p.loss.toFixed(4)}  ${Math.round(p.tokensPerSec)} tok/s  ETA ${formatDuration(eta(p))}`;
}

export class Progress {
  private lastPrint = 0;
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream | { write(s: string): boolean; isTTY?: boolean; columns?: number },
    private readonly plainEvery: number,
  ) {}

  get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(p: ProgressInfo): void {
    if (this.tty) {
      const width = 24;
      const filled = Math.round((p.step / p.steps) * width);
      const bar = `[${"#".repeat(filled)}${"-".repeat(width - filled)}]`;
      const line = `${bar} ${progressLine(p)}`.slice(0, Math.max(20, (this.out.columns ?? 120) - 1));
      this.out.write(`\r\x1b[2K${line}`);
      this.drawn = true;
      return;
    }
    const now = Date.now();
    if (p.step === p.steps || p.step % this.plainEvery === 0 || now - this.lastPrint > 30_000) {
      this.out.write(progressLine(p) + "\n");
      this.lastPrint = now;
    }
  }

  /** Prints a message on its own line (clearing the bar first on a TTY). */
  log(message: string): void {
    if (this.tty && this.drawn) this.out.write("\r\x1b[2K");
    this.out.write(message + "\n");
    this.drawn = false;
  }

  done(): void {
    if (this.tty && this.drawn) this.out.write("\n");
    this.drawn = false;
  }
}
