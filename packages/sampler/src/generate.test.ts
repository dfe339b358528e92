import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { expectNoLeaks, testBackends, useBackend } from "@mixdepth/vitest-config/tf";
import { ContextLengthError } from "./decoder.js";
import { generate, generateStream, type GenerateEvent } from "./generate.js";
import { greedy, repetitionPenalty, temperature, topK, topP } from "./processors.js";
import { MOD, tinyModel, tokenIds, tokenTensor } from "../test/models.js";

const letters = (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + i)).join("");

describe.each(testBackends())("generation on %s", (backend) => {
  beforeAll(() => useBackend(backend));

  it("greedy tokens are the argmax of a full causal forward over the generated text", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("llama", MOD);
      const prompt = tokenIds(5, 11);
      const res = await generate(model, prompt, { maxNewTokens: 8, processors: [greedy()] });
      const gen = res.sequences[0]!.tokens;
      expect(gen).toHaveLength(8);
      expect(res.sequences[0]!.finishReason).toBe("length");
      const x = tokenTensor([[...prompt, ...gen]]);
      const out = model.forward(x, { routing: "causal", trace: false });
      const argmaxes = tf.tidy(() => tf.argMax(out.logits, 2).arraySync() as number[][])[0]!;
      expect(argmaxes.slice(prompt.length - 1, prompt.length - 1 + 8)).toEqual(gen);
      tf.dispose([x, out.logits]);
      model.dispose();
    });
  });

  it("a batch of prompts of different lengths gives what each prompt gives alone", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD);
      const prompts = [tokenIds(3, 1), tokenIds(9, 2), tokenIds(1, 3)];
      const opts = { maxNewTokens: 6, processors: [greedy()] };
      const together = await generate(model, prompts, opts);
      for (const [i, p] of prompts.entries()) {
        const alone = await generate(model, p, opts);
        expect(together.sequences[i]!.tokens).toEqual(alone.sequences[0]!.tokens);
      }
      model.dispose();
    });
  });

  it("a seed reproduces sampled output; another seed differs", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD);
      const opts = { maxNewTokens: 12, processors: [repetitionPenalty(1.2), temperature(1.5), topK(10), topP(0.95)] };
      const a = await generate(model, [tokenIds(4, 1), tokenIds(4, 2)], { ...opts, seed: 7 });
      const b = await generate(model, [tokenIds(4, 1), tokenIds(4, 2)], { ...opts, seed: 7 });
      const c = await generate(model, [tokenIds(4, 1), tokenIds(4, 2)], { ...opts, seed: 8 });
      expect(b.sequences.map((s) => s.tokens)).toEqual(a.sequences.map((s) => s.tokens));
      expect(c.sequences.map((s) => s.tokens)).not.toEqual(a.sequences.map((s) => s.tokens));
      model.dispose();
    });
  });

  it("streams one event per step with tokens, text deltas, block visits and routing stats", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD);
      const events: GenerateEvent[] = [];
      const it = generateStream(model, [tokenIds(4, 5), tokenIds(2, 6)], { maxNewTokens: 5, decode: letters, seed: 3 });
      let next = await it.next();
      while (!next.done) {
        events.push(next.value);
        next = await it.next();
      }
      const result = next.value;
      expect(events).toHaveLength(5);
      events.forEach((e, step) => {
        expect(e.step).toBe(step);
        expect(e.visits[0]!.blocks.map((b) => b.routed)).toEqual([false, true, false, true]);
        expect(e.visits[0]!.position).toBe(3 + step);
        expect(e.visits[1]!.position).toBe(1 + step);
        for (const b of e.visits[0]!.blocks) if (!b.routed) expect(b.processed).toBe(true);
        for (const b of e.visits[0]!.blocks.filter((v) => v.routed)) expect(b.processed).toBe(b.probability! > 0.5);
        expect(e.routing.map((r) => r.layer)).toEqual([1, 3]);
      });
      result.sequences.forEach((s, i) => {
        expect(s.tokens).toEqual(events.map((e) => e.tokens[i]));
        expect(s.text).toBe(letters(s.tokens));
        expect(events.map((e) => e.text![i]).join("")).toBe(s.text);
      });
      // Pooled counts: prompts (4 + 2 tokens) and 4 fed tokens per sequence reach every routed block.
      for (const r of result.routing) {
        expect(r.tokens).toBe(6 + 2 * 4);
        expect(r.capacity).toBe(0.25);
        expect(r.fraction).toBeCloseTo(r.processed / r.tokens, 12);
      }
      model.dispose();
    });
  });

  it("stop sequences and stop strings end a sequence; the others go on", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD);
      const prompts = [tokenIds(3, 1), tokenIds(3, 2)];
      const free = await generate(model, prompts, { maxNewTokens: 10, processors: [greedy()] });
      const first = free.sequences[0]!.tokens;
      const stopAt = first.slice(2, 4); // ends sequence 0 after its 4th token (unless it occurs earlier)
      const res = await generate(model, prompts, { maxNewTokens: 10, processors: [greedy()], stopSequences: [stopAt] });
      const s0 = res.sequences[0]!;
      expect(s0.finishReason).toBe("stop");
      expect(s0.tokens.length).toBeLessThanOrEqual(4);
      expect(s0.tokens.slice(-2)).toEqual(stopAt);
      const text = await generate(model, prompts, { maxNewTokens: 10, processors: [greedy()], decode: letters, stopStrings: [letters(first.slice(0, 1))] });
      expect(text.sequences[0]!.finishReason).toBe("stop");
      expect(text.sequences[0]!.tokens).toEqual(first.slice(0, 1));
      await expect(generate(model, prompts, { maxNewTokens: 5, stopStrings: ["x"] })).rejects.toThrow(/needs a decode function/);
      model.dispose();
    });
  });

  it("too long for the context: a clear error naming maxNewTokens and contextLength, before any work", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD); // contextLength 24
      await expect(generate(model, tokenIds(10, 1), { maxNewTokens: 16 })).rejects.toThrow(ContextLengthError);
      await expect(generate(model, tokenIds(10, 1), { maxNewTokens: 16 })).rejects.toThrow(/maxNewTokens is 16.*lower maxNewTokens to 15/);
      const ok = await generate(model, tokenIds(10, 1), { maxNewTokens: 15 });
      expect(ok.sequences[0]!.tokens).toHaveLength(15);
      model.dispose();
    });
  });

  it('contextOverflow "slide" generates past contextLength by re-prefilling a window', async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("llama", MOD); // contextLength 24
      const res = await generate(model, [tokenIds(30, 1), tokenIds(5, 2)], { maxNewTokens: 40, contextOverflow: "slide", slideKeep: 8, seed: 1 });
      expect(res.sequences.map((s) => s.tokens.length)).toEqual([40, 40]);
      expect(res.slides).toBeGreaterThan(0);
      model.dispose();
    });
  });

  it("stopping the stream early frees every tensor", async () => {
    await expectNoLeaks(async () => {
      const model = tinyModel("gpt2", MOD);
      let n = 0;
      for await (const e of generateStream(model, [tokenIds(4, 1), tokenIds(6, 2)], { maxNewTokens: 10 })) {
        n += e.tokens.length;
        if (e.step === 2) break;
      }
      expect(n).toBe(6);
      model.dispose();
    });
  });
});

describe("sampling is the same on every backend", () => {
  it("a seed gives the same tokens on cpu and wasm", async () => {
    const backends = testBackends();
    if (backends.length < 2) return;
    const runs: number[][][] = [];
    for (const b of backends) {
      await useBackend(b);
      const model = tinyModel("gpt2", MOD);
      const res = await generate(model, [tokenIds(4, 1), tokenIds(3, 9)], { maxNewTokens: 16, seed: 5, processors: [temperature(1.3), topP(0.9)] });
      runs.push(res.sequences.map((s) => s.tokens));
      model.dispose();
    }
    for (const r of runs.slice(1)) expect(r).toEqual(runs[0]);
  });
});
