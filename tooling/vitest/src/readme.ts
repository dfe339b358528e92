// Runs a README's `ts` blocks as tests: each `expr; // => value` line must give value (JSON),
// each `expr; // throws message` line must throw that message. The blocks' imports of the
// named packages are replaced by the given exports, so a README example is checked against
// the source it documents.
import ts from "typescript";

export interface ReadmeCheck {
  expr: string;
  kind: "=>" | "throws";
  expected: string;
  actual?: unknown;
  threw?: unknown;
}

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<void>;

/**
 * Runs a README's TypeScript block as a user's module would run (transpiled, not
 * type-checked; top-level await allowed): its imports resolve to `modules` (a name it imports
 * that is not there is an error naming it), and its console.log goes to `log`.
 */
export async function runTsModule(code: string, modules: Record<string, unknown>, log: (...args: unknown[]) => void = () => undefined): Promise<void> {
  const js = ts.transpileModule(code, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
  }).outputText;
  const require = (name: string): unknown => {
    if (!(name in modules)) throw new Error(`README imports ${name}, which this test does not provide`);
    return modules[name];
  };
  await new AsyncFunction("require", "exports", "module", "console", js)(require, {}, { exports: {} }, { log });
}

/** A checked line: `expr; // => value` (JSON) or `expr; // throws message`. */
const CHECK_LINE = /^(.*);\s*\/\/ (=>|throws) (.*)$/;

/** The fenced `ts` blocks of a README, in order. */
export function tsBlocks(readme: string): string[] {
  return [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/**
 * Runs one block with `api` in scope (its imports from `packages` removed); returns its checks.
 * The block is TypeScript (`as const`, annotations): it is transpiled, not type-checked, here.
 */
export function runReadmeBlock(block: string, api: Record<string, unknown>, packages: string[]): ReadmeCheck[] {
  const checks: ReadmeCheck[] = [];
  const importLine = new RegExp(`^import [^;]+ from "(${packages.map((p) => p.replace(/[/.]/g, "\\$&")).join("|")})";$`, "gm");
  const body = block
    .replace(importLine, "")
    .split("\n")
    .map((line) => {
      const m = CHECK_LINE.exec(line);
      if (!m) return line;
      const i = checks.push({ expr: m[1]!, kind: m[2] as ReadmeCheck["kind"], expected: m[3]! }) - 1;
      return m[2] === "=>" ? `__checks[${i}].actual = (${m[1]});` : `try { ${m[1]}; } catch (e) { __checks[${i}].threw = e; }`;
    })
    .join("\n");
  const js = ts.transpileModule(body, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;
  new Function("__api", "__checks", `const { ${Object.keys(api).join(", ")} } = __api;\n${js}`)(api, checks);
  return checks;
}

// Appended to a README program; function declarations are hoisted, so its checks can call them.
const PROGRAM_CHECKS = `
function __readmeExpect(actual: unknown, expected: string, line: string): void {
  const got = JSON.stringify(actual);
  if (got !== JSON.stringify(JSON.parse(expected))) throw new Error(\`README check failed: \${line}\\n  got: \${got}\`);
}
function __readmeExpectThrow(run: () => unknown, expected: string, line: string): void {
  try {
    run();
  } catch (e) {
    if ((e as Error).message === expected) return;
    throw new Error(\`README check failed: \${line}\\n  threw: \${(e as Error).message}\`);
  }
  throw new Error(\`README check failed: \${line}\\n  did not throw\`);
}
export {};
`;

/**
 * A README block as a standalone program in a user's project (for tsx, or node after
 * transpiling): imports stay as written (so they load the installed packages), each
 * `expr; // => value` line asserts that expr gives value (as JSON), each
 * `expr; // throws message` line that expr throws exactly that message. A failed check
 * throws, naming the README line.
 */
export function readmeProgram(block: string): string {
  const body = block.split("\n").map((line) => {
    const m = CHECK_LINE.exec(line);
    if (!m) return line;
    const [, expr, kind, expected] = m as unknown as [string, string, string, string];
    const label = JSON.stringify(line.trim());
    return kind === "=>"
      ? `__readmeExpect((${expr}), ${JSON.stringify(expected)}, ${label});`
      : `__readmeExpectThrow(() => { ${expr}; }, ${JSON.stringify(expected)}, ${label});`;
  });
  return body.join("\n") + PROGRAM_CHECKS;
}
