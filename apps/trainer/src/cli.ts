#!/usr/bin/env node
// The mixdepth command line. Each command picks its tfjs backend through the shared loader
// and prints one line saying which backend runs and why the others were skipped.
import { Command, InvalidArgumentError, Option } from "commander";
import { BACKEND_CHOICES, BackendError, loadBackend, parseBackendChoice, type BackendChoice } from "@mixdepth/backend";

function backendOption(): Option {
  return new Option("--backend <name>", "tfjs backend: auto tries tensorflow (native), then wasm, then cpu")
    .choices(BACKEND_CHOICES as unknown as string[])
    .default(process.env.MIXDEPTH_BACKEND ?? "auto", "$MIXDEPTH_BACKEND or auto")
    .argParser((v: string) => {
      try {
        return parseBackendChoice(v);
      } catch (e) {
        throw new InvalidArgumentError((e as Error).message);
      }
    });
}

export function buildProgram(): Command {
  const program = new Command()
    .name("mixdepth")
    .description("Train, evaluate, compare and sample Mixture-of-Depths transformers on TensorFlow.js")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("info")
    .description("load the tfjs backend and print which one runs, and why others were skipped")
    .addOption(backendOption())
    .action(async (opts: { backend: BackendChoice }) => {
      const tf = await import("@tensorflow/tfjs");
      const loaded = await loadBackend(opts.backend, { log: (l) => console.log(l) });
      console.log(`tfjs ${tf.version.tfjs}; node ${process.versions.node}; backend ${loaded.name}`);
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    const code = (err as { code?: string; exitCode?: number }).code;
    if (code === "commander.helpDisplayed" || code === "commander.version" || code === "commander.help") return 0;
    if (typeof code === "string" && code.startsWith("commander.")) return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
    if (err instanceof BackendError) {
      console.error(`error: ${err.message}`);
      return 1;
    }
    console.error(`error: ${(err as Error).stack ?? String(err)}`);
    return 1;
  }
}

const isEntry = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntry || process.argv[1]?.endsWith("/cli.js")) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
