// Reports must open offline: inline SVG, no scripts, no external references.
import { describe, expect, it } from "vitest";
import { fmt, lineChart, reportHtml, smooth, toCsv } from "./report.js";

describe("report", () => {
  it("draws each series as a path with axes and a legend, escaping names", () => {
    const svg = lineChart(
      [
        { name: "a<b", points: [[1, 3], [2, 2], [3, Number.NaN], [4, 1]] },
        { name: "flat", points: [[1, 2]] },
      ],
      { title: "t", xLabel: "step", yLabel: "loss" },
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain("a&lt;b");
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).not.toContain("NaN");
  });

  it("the page has no scripts and no links outside itself", () => {
    const html = reportHtml("r", ["line"], [lineChart([{ name: "x", points: [[1e9, 1], [1e10, 2]] }], { title: "t", xLabel: "FLOPs", yLabel: "y", logX: true })], [
      { title: "tbl", head: ["a", "b"], rows: [["x", 1.23456]] },
    ]);
    expect(html).not.toMatch(/<script|<link|src=|@import/);
    expect(html.match(/https?:\/\/[^"]+/g)).toEqual(["http://www.w3.org/2000/svg"]);
    expect(html).toContain("<td>1.235</td>");
  });

  it("formats and smooths numbers", () => {
    expect(fmt(1234567)).toBe("1.23e+6");
    expect(fmt(0.5)).toBe("0.5");
    expect(smooth([[1, 1], [2, 3], [3, 5]], 2)).toEqual([[1, 1], [2, 2], [3, 4]]);
  });

  it("puts the legend below the plot, never over a curve; dots carry hover titles", () => {
    const svg = lineChart([{ name: "val", points: [[1, 3], [2, 2]], markers: true, dash: "4 2" }], { title: "t", xLabel: "step", yLabel: "loss", height: 300 });
    const plotBottom = 300 - 48;
    const legendY = Number(/<text x="\d+" y="(\d+)">val<\/text>/.exec(svg)?.[1]);
    expect(legendY).toBeGreaterThan(plotBottom + 34);
    expect(svg).toContain('<title>val: 2 at 2</title>');
    expect(svg).toContain('stroke-dasharray="4 2"');
  });

  it("writes CSV with quoting and empty cells for missing values", () => {
    expect(toCsv(["a", "b"], [["x,y", 1.5], ['say "hi"', Number.NaN], [null, undefined]])).toBe('a,b\n"x,y",1.5\n"say ""hi""",\n,\n');
  });

  it("CSV cells never start a formula: text beginning with = + - @ (or tab, CR) gets a leading quote; numbers stay numbers", () => {
    expect(toCsv(["run", "v"], [["=HYPERLINK(\"http://x\")", -2], ["+1", 1], ["-1+2", 0], ["@SUM(A1)", 3], ["\tx", 4], ["ok", 5]])).toBe(
      'run,v\n"\'=HYPERLINK(""http://x"")",-2\n\'+1,1\n\'-1+2,0\n\'@SUM(A1),3\n\'\tx,4\nok,5\n',
    );
  });

  it("draws a long run (200k points: no spread of the points into Math.min) and values one ulp apart (the tick loop ends)", () => {
    const long: [number, number][] = Array.from({ length: 200_000 }, (_, i) => [i + 1, 5 - i / 1e5]);
    expect(lineChart([{ name: "train", points: long }], { title: "t", xLabel: "step", yLabel: "loss" })).toContain("<path ");
    const y = 2.5;
    const close = lineChart([{ name: "val", points: [[1, y], [2, y + Number.EPSILON * 2]] }], { title: "t", xLabel: "step", yLabel: "loss" });
    expect(close).toContain("<path ");
    expect((close.match(/<line /g) ?? []).length).toBeLessThan(40);
    // Huge and tiny spans alike give a handful of ticks.
    const wide = lineChart([{ name: "w", points: [[1, -1e308], [2, 1e308]] }], { title: "t", xLabel: "step", yLabel: "y" });
    expect((wide.match(/<line /g) ?? []).length).toBeLessThan(40);
  });

  it("a value that is not a number (from a hand-edited file) prints as NaN, never as its text", () => {
    expect(fmt("<script>alert(1)</script>" as unknown as number)).toBe("NaN");
    const html = reportHtml("r", [], [], [{ title: "t", head: ["a"], rows: [[{ toString: () => "<b>x</b>" } as unknown as string]] }]);
    expect(html).toContain("&lt;b&gt;x&lt;/b&gt;");
  });
});
