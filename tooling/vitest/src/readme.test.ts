// readmeProgram turns a README block into a program whose stated values are assertions: a
// right value and the stated error pass; a wrong value, another error or no error fail,
// naming the README line.
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { readmeProgram, runReadmeBlock } from "./readme.js";

const run = (program: string): void => {
  const js = ts.transpileModule(program, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  new Function("exports", js)({});
};

describe("readmeProgram", () => {
  it("passes a block whose stated values and errors hold", () => {
    expect(() => run(readmeProgram('const a = [1, 2] as const;\na.length; // => 2\n[...a]; // => [1, 2]\nnew URL("nope"); // throws Invalid URL\n'))).not.toThrow();
  });

  it("fails on a wrong value, naming the line", () => {
    expect(() => run(readmeProgram("const a = 1 + 1;\na; // => 3\n"))).toThrow("README check failed: a; // => 3\n  got: 2");
  });

  it("fails on another error or none", () => {
    expect(() => run(readmeProgram("new URL(\"nope\"); // throws y\n"))).toThrow("threw: Invalid URL");
    expect(() => run(readmeProgram("Math.abs(1); // throws y\n"))).toThrow("did not throw");
  });
});

describe("runReadmeBlock", () => {
  it("runs TypeScript syntax (as const, annotations)", () => {
    const checks = runReadmeBlock('const x: number = 2;\nconst m = { family: "gpt2" as const };\nm.family; // => "gpt2"\nx * 2; // => 4\n', {}, []);
    expect(checks.map((c) => c.actual)).toEqual(["gpt2", 4]);
  });
});
