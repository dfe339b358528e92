import * as tf from "@tensorflow/tfjs-core";
import { afterAll, describe, expect, it } from "vitest";
import { expectNoLeaks } from "@mixdepth/vitest-config/tf";
import { createRouter, listRouters, registerRouter, unregisterRouter, type RouterContext } from "@mixdepth/router";
import { BiasedRouter } from "./biased-router.js";

describe("a custom router from outside the package", () => {
  afterAll(() => unregisterRouter("biased"));

  it("registers, routes, and round-trips through its JSON config", async () => {
    registerRouter("biased", (ctx) => new BiasedRouter(ctx));
    expect(listRouters()).toContain("biased");
    const context: RouterContext = { dModel: 4, layerIndex: 1, auxLoss: null, predictor: null, options: { initBias: 0.5 }, seed: 3 };
    const a = createRouter("biased", context);
    const json = JSON.parse(JSON.stringify(a.toJSON())) as ReturnType<typeof a.toJSON>;
    expect(json).toEqual({ kind: "biased", options: { initBias: 0.5 } });
    const b = createRouter(json.kind, { ...context, options: json.options });
    const x = tf.randomNormal([2, 6, 4], 0, 1, "float32", 1) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const ra = a.route(x, 2);
      const rb = b.route(x, 2);
      expect(Array.from(ra.positions)).toEqual(Array.from(rb.positions));
      expect(Array.from(ra.scores.dataSync())).toEqual(Array.from(rb.scores.dataSync()));
      expect(a.weights().get("b")!.dataSync()[0]).toBe(0.5);
      tf.dispose([ra.scores, rb.scores]);
    });
    x.dispose();
    a.dispose();
    b.dispose();
  });

  it("builds, routes inside a tidy, and disposes without leaking", async () => {
    const context: RouterContext = { dModel: 4, layerIndex: 0, auxLoss: null, predictor: null, options: {}, seed: 5 };
    const x = tf.randomNormal([1, 5, 4], 0, 1, "float32", 2) as tf.Tensor3D;
    await expectNoLeaks(() => {
      const r = new BiasedRouter(context);
      tf.tidy(() => {
        r.route(x, 2);
        r.routeCausal(x);
      });
      expect(() => r.route(x, 6)).toThrow(/k: must be an integer/);
      r.dispose();
    });
    x.dispose();
  });
});
