// The kit check's verdict on a program's output: a falling loss passes; a flat or rising
// loss, or too few loss lines, is named (so the packaging check can fail on a broken loop).
import { describe, expect, it } from "vitest";
import { fallingLossProblem, printedLosses, tsBlocks } from "./kit-example.js";

describe("kit example checks", () => {
  it("reads the loss lines and accepts only a loss that falls at every print", () => {
    const out = "backend: cpu\nstep 10: loss 3.405, grad norm 1.21\nstep 20: loss 1.740, grad norm 1.44\nsample: x\n";
    expect(printedLosses(out)).toEqual([3.405, 1.74]);
    expect(fallingLossProblem([3.4, 1.7, 1.0], "x")).toBeNull();
    expect(fallingLossProblem([3.4, 3.4], "x")).toBe("x: the loss did not fall (3.4 -> 3.4)");
    expect(fallingLossProblem([3.4], "x")).toBe("x: printed 1 loss line(s), expected at least 2");
  });

  it("finds the README's ts blocks in order", () => {
    expect(tsBlocks("# a\n```ts\nconst a = 1;\n```\ntext\n```sh\nls\n```\n```ts\nb();\n```\n")).toEqual(["const a = 1;\n", "b();\n"]);
  });
});
