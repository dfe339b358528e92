"""metrics.jsonl and the progress line, in apps/trainer/src/{metrics,progress}.ts's formats, so
``mixdepth report`` renders a twin run like any other. Records are written as JSON.stringify
writes them (non-finite numbers as null), one per line, appended; a torn last line is skipped."""
from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Optional, TextIO

from .config import js_json


class MetricsLog:
    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, record: Dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(js_json(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drops step records after ``step`` (a resumed run redoes them), as metrics.ts truncateAfter."""
        if not os.path.exists(self.path):
            return
        keep = [r for r in read_metrics(self.path) if "step" not in r or r["step"] <= step or r["type"] == "end"]
        keep = [r for r in keep if not (r["type"] == "end" and r["step"] > step)]
        write_atomic(self.path, "".join(js_json(r) + "\n" for r in keep).encode("utf-8"))


def read_metrics(path: str) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # torn line
    return out


def fsync_dir(d: str) -> None:
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_atomic(path: str, data: bytes) -> None:
    """Temp file + fsync + rename + fsync of the folder (apps/trainer/src/atomic.ts)."""
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        write_durable(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    fsync_dir(d)


def format_duration(sec: float) -> str:
    if not math.isfinite(sec) or sec < 0:
        return "?"
    s = int(math.floor(sec + 0.5))
    h, m = s // 3600, (s % 3600) // 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s % 60:02d}s" if m else f"{s}s"


def progress_line(step: int, steps: int, loss: float, tokens_per_sec: float, elapsed: float, start_step: int) -> str:
    done = step - start_step
    eta = elapsed / done * (steps - step) if done > 0 else float("nan")
    return f"step {step}/{steps}  loss {loss:.4f}  {int(math.floor(tokens_per_sec + 0.5))} tok/s  ETA {format_duration(eta)}"


class Progress:
    """A bar redrawn in place on a TTY, plain lines every ``plain_every`` steps (or 30 s) otherwise."""

    def __init__(self, out: Optional[TextIO] = None, plain_every: int = 1) -> None:
        self.out = out or sys.stdout
        self.plain_every = max(1, plain_every)
        self.last_print = 0.0
        self.drawn = False

    @property
    def tty(self) -> bool:
        return bool(getattr(self.out, "isatty", lambda: False)())

    def update(self, step: int, steps: int, loss: float, tokens_per_sec: float, elapsed: float, start_step: int) -> None:
        line = progress_line(step, steps, loss, tokens_per_sec, elapsed, start_step)
        if self.tty:
            filled = round(step / steps * 24)
            self.out.write(f"\r\x1b[2K[{'#' * filled}{'-' * (24 - filled)}] {line}")
            self.out.flush()
            self.drawn = True
            return
        now = time.time()
        if step == steps or step % self.plain_every == 0 or now - self.last_print > 30:
            self.out.write(line + "\n")
            self.out.flush()
            self.last_print = now

    def log(self, message: str) -> None:
        if self.tty and self.drawn:
            self.out.write("\r\x1b[2K")
        self.out.write(message + "\n")
        self.out.flush()
        self.drawn = False

    def done(self) -> None:
        if self.tty and self.drawn:
            self.out.write("\n")
        self.drawn = False
