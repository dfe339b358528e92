// The one-call loader: a run folder (its latest checkpoint), a checkpoint folder, a URL, Files
// or bytes -> a generator with the checkpoint's tokenizer, sliding context, UTF-8-safe
// streaming and per-token routing; bad input is a one-line CheckpointError, read with limits.
import { createServer, type Server } from "node:http";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { createTransformer } from "@mixdepth/transformer";
import { saveModel } from "@mixdepth/transformer/node";
import type { ModelConfig } from "@mixdepth/core";
import { CheckpointError } from "@mixdepth/transformer";
import { generateStream } from "./generate.js";
import { loadTextGenerator as loadInBrowser, type TextPiece } from "./text-generator.js";
import { loadTextGenerator } from "./node.js";
import { temperature } from "./processors.js";

const config: ModelConfig = { vocabSize: 256, dModel: 16, nHeads: 2, nLayers: 3, contextLength: 16, routing: { blocks: [1], capacity: 0.5 } };
const root = mkdtempSync(join(tmpdir(), "mixdepth-loader-"));

/** A run folder as the trainer lays it out: checkpoints/step-N/ and latest.json naming the newest. */
function runFolder(): { run: string; latest: string } {
  const run = join(root, "run");
  for (const [step, seed] of [[2, 1], [4, 2]] as const) {
    const model = createTransformer(config, { seed });
    saveModel(join(run, "checkpoints", `step-00000${step}`), model, { tokenizer: { type: "byte", vocabSize: 256, encoding: "utf-8" }, step });
    model.dispose();
  }
  writeFileSync(join(run, "checkpoints", "latest.json"), JSON.stringify({ checkpoint: "step-000004" }));
  return { run, latest: join(run, "checkpoints", "step-000004") };
}

async function collect(it: AsyncGenerator<TextPiece, unknown>): Promise<TextPiece[]> {
  const out: TextPiece[] = [];
  for await (const p of it) out.push(p);
  return out;
}

const blob = (name: string, bytes: Uint8Array) => ({ name, size: bytes.length, arrayBuffer: async () => new Uint8Array(bytes).buffer });

describe.each(testBackends())("loadTextGenerator on %s", (backend) => {
  let run = "";
  let latest = "";
  beforeAll(async () => {
    await useBackend(backend);
    ({ run, latest } = runFolder());
  });

  it("a run folder opens its latest checkpoint; the text is what generateStream gives with the checkpoint's tokenizer", async () => {
    await expectNoLeaks(async () => {
      const g = await loadTextGenerator(run);
      expect(g.config.step).toBe(4);
      const opts = { maxNewTokens: 12, seed: 5, processors: [temperature(0.9)] };
      const pieces = await collect(g.stream("Hé, ", opts));
      const r = await g.generate("Hé, ", opts);
      // The same call on the same model: the library's stream, bytes as tokens.
      const prompt = [...new TextEncoder().encode("Hé, ")];
      const direct = await (async () => {
        const it = generateStream(g.model, prompt, { ...opts, tokenBytes: (id) => [id] });
        for (;;) {
          const x = await it.next();
          if (x.done) return x.value.sequences[0]!;
        }
      })();
      expect(r.tokens).toEqual(direct.tokens);
      expect(r.text).toBe(direct.text);
      expect(pieces.map((p) => p.text).join("")).toBe(r.text);
      expect(pieces.map((p) => p.token)).toEqual(r.tokens);
      g.dispose();
    });
  });

  it("per token: which blocks processed the token consumed, for every block; the last piece says why it stopped", async () => {
    await expectNoLeaks(async () => {
      const g = await loadTextGenerator(latest);
      const pieces = await collect(g.stream("abc", { maxNewTokens: 5 }));
      expect(pieces.map((p) => p.consumed.position)).toEqual([2, 3, 4, 5, 6]);
      for (const p of pieces) {
        expect(p.consumed.blocks.map((b) => [b.layer, b.routed])).toEqual([[0, false], [1, true], [2, false]]);
        expect(p.consumed.blocks[0]!.processed).toBe(true);
        expect(typeof p.consumed.blocks[1]!.score).toBe("number");
      }
      expect(pieces.map((p) => p.finishReason)).toEqual([null, null, null, null, "length"]);
      g.dispose();
    });
  });

  it("slides the context where generateStream would throw ContextLengthError", async () => {
    await expectNoLeaks(async () => {
      const g = await loadTextGenerator(run);
      const long = "x".repeat(40); // more than contextLength 16
      const r = await g.generate(long, { maxNewTokens: 20 });
      expect(r.tokens).toHaveLength(20);
      expect(r.slides).toBeGreaterThan(0);
      await expect(g.generate(long, { maxNewTokens: 2, contextOverflow: "error" })).rejects.toThrow(/exceeds the model's contextLength 16/);
      g.dispose();
    });
  });

  it("a multi-byte character split over tokens is emitted once, complete", async () => {
    await expectNoLeaks(async () => {
      const g = await loadTextGenerator(run);
      // Generation emits random bytes: every piece must be valid text and joined equal the whole decode.
      const r = await g.generate("é", { maxNewTokens: 40, seed: 3 });
      const pieces = await collect(g.stream("é", { maxNewTokens: 40, seed: 3 }));
      expect(pieces.map((p) => p.text).join("")).toBe(new TextDecoder().decode(Uint8Array.from(r.tokens)));
      expect(pieces.some((p) => p.text === "")).toBe(true); // at least one byte held back (seeded)
      g.dispose();
    });
  });

  it("the same generator from Files, bytes, a file: URL and an http URL", async () => {
    const cfgBytes = readFileSync(join(latest, "config.json"));
    const weights = new Uint8Array(readFileSync(join(latest, "model.safetensors")));
    const server: Server = createServer((req, res) => {
      const file = req.url === "/ck/config.json" ? cfgBytes : req.url === "/ck/model.safetensors" ? weights : null;
      if (!file) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-length": file.length }).end(file);
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const port = (server.address() as { port: number }).port;
    try {
      await expectNoLeaks(async () => {
        const want = await loadTextGenerator(latest);
        const ref = await want.generate("ab", { maxNewTokens: 6, seed: 1 });
        want.dispose();
        for (const source of [
          [blob("config.json", new Uint8Array(cfgBytes)), blob("model.safetensors", weights)],
          { config: cfgBytes.toString("utf8"), weights },
          pathToFileURL(latest),
          `http://127.0.0.1:${port}/ck`,
        ]) {
          const g = typeof source === "string" ? await loadInBrowser(source) : await loadTextGenerator(source);
          expect((await g.generate("ab", { maxNewTokens: 6, seed: 1 })).tokens).toEqual(ref.tokens);
          g.dispose();
        }
      });
      await expect(loadInBrowser(`http://127.0.0.1:${port}/missing`)).rejects.toThrow(/missing\/config\.json: HTTP 404/);
      await expect(loadInBrowser(`http://127.0.0.1:${port}/ck`, { limits: { maxWeightsBytes: 100 } })).rejects.toThrow(/model\.safetensors has \d+ bytes, more than the limit 100 \(limits\.maxWeightsBytes\)/);
    } finally {
      server.close();
    }
  });
});

describe("loadTextGenerator refuses bad input on one line", () => {
  beforeAll(() => useBackend("cpu"));

  const oneLine = async (p: Promise<unknown>, re: RegExp) => {
    const e = await p.then(() => null, (x: unknown) => x);
    expect(e).toBeInstanceOf(CheckpointError);
    expect((e as Error).message).toMatch(re);
    expect((e as Error).message).not.toContain("\n");
  };

  it("missing folders, folders that are not checkpoints, a bad latest.json", async () => {
    await oneLine(loadTextGenerator(join(root, "nope")), /checkpoint: .*nope does not exist/);
    const empty = join(root, "empty");
    mkdirSync(empty, { recursive: true });
    await oneLine(loadTextGenerator(empty), /has neither model\.safetensors nor checkpoints\/latest\.json/);
    const bad = join(root, "bad-run");
    mkdirSync(join(bad, "checkpoints"), { recursive: true });
    writeFileSync(join(bad, "checkpoints", "latest.json"), "{");
    await oneLine(loadTextGenerator(bad), /latest\.json is not valid JSON/);
  });

  it("a table tokenizer (@mixdepth/text's reader) encodes the prompt and decodes the pieces", async () => {
    const dir = join(root, "table");
    const model = createTransformer(config, { seed: 1 });
    saveModel(dir, model, { tokenizer: { type: "table", vocab: ["a", "b", "ab", " "] } });
    model.dispose();
    await expectNoLeaks(async () => {
      const g = await loadTextGenerator(dir);
      expect(g.encode("ab a")).toEqual([2, 3, 0]);
      const r = await g.generate("ab a", { maxNewTokens: 6, seed: 2 });
      expect(r.text).toBe(g.tokenizer.decode(r.tokens)); // ids past the table (the model has 256) decode to nothing
      g.dispose();
    });
  });

  it("an unknown tokenizer, Files that are not a checkpoint, and a File over the limit (not read)", async () => {
    const dir = join(root, "bpe");
    const model = createTransformer(config, { seed: 1 });
    saveModel(dir, model, { tokenizer: { type: "bpe" } });
    model.dispose();
    await oneLine(loadTextGenerator(dir), /config\.json tokenizer: type: unknown tokenizer "bpe"/);
    await oneLine(loadInBrowser([blob("a.txt", new Uint8Array(1))]), /a checkpoint is config\.json and one \.safetensors file; got "a\.txt"/);
    let read = false;
    const big = { name: "model.safetensors", size: 1e12, arrayBuffer: async () => ((read = true), new ArrayBuffer(0)) };
    await oneLine(loadInBrowser([blob("config.json", readFileSync(join(dir, "config.json"))), big]), /model\.safetensors has 1000000000000 bytes, more than the limit \d+ \(limits\.maxWeightsBytes\)/);
    expect(read).toBe(false);
  });
});
