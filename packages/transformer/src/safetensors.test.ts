// safetensors encode/decode against a byte fixture laid out by hand from the format spec.
import { describe, expect, it } from "vitest";
import { decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from "./safetensors.js";

// Header JSON is 141 bytes; 8 + 141 = 149, so 3 spaces pad it to 144 and the data starts at 152.
const HEADER = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]}}';
function fixture(): Uint8Array {
  const head = new TextEncoder().encode(HEADER + "   ");
  expect(head.length).toBe(144);
  const bytes = [
    144, 0, 0, 0, 0, 0, 0, 0, // u64 LE header length
    ...head,
    0x00, 0x00, 0x80, 0x3f, // 1.0f
    0x00, 0x00, 0x00, 0xc0, // -2.0f
    0x07, 0x00, 0x00, 0x00, // int32 7
  ];
  return new Uint8Array(bytes);
}

function sample(): Map<string, SafetensorsTensor> {
  // Inserted out of name order on purpose: the file is sorted by name.
  return new Map<string, SafetensorsTensor>([
    ["b", { dtype: "I32", shape: [1, 1], data: new Int32Array([7]) }],
    ["a", { dtype: "F32", shape: [2], data: new Float32Array([1, -2]) }],
  ]);
}

/** Builds a file from a header object and raw data bytes (for malformed inputs). */
function build(header: unknown, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe("safetensors", () => {
  it("encodes exactly the hand-built layout", () => {
    expect([...encodeSafetensors(sample(), { format: "pt" })]).toEqual([...fixture()]);
  });

  it("decodes the hand-built fixture", () => {
    const { tensors, metadata } = decodeSafetensors(fixture());
    expect(metadata).toEqual({ format: "pt" });
    expect([...tensors.keys()]).toEqual(["a", "b"]);
    expect(tensors.get("a")).toEqual({ dtype: "F32", shape: [2], data: new Float32Array([1, -2]) });
    expect(tensors.get("b")).toEqual({ dtype: "I32", shape: [1, 1], data: new Int32Array([7]) });
  });

  it("round-trips scalars, empty tensors and an unaligned input view", () => {
    const m = new Map<string, SafetensorsTensor>([
      ["scalar", { dtype: "F32", shape: [], data: new Float32Array([3.5]) }],
      ["empty", { dtype: "I32", shape: [0, 4], data: new Int32Array(0) }],
      ["w", { dtype: "F32", shape: [2, 3], data: new Float32Array([0.1, 0.2, 0.3, -1e-30, 1e30, Number.NaN]) }],
    ]);
    const bytes = encodeSafetensors(m);
    expect((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 8).toBe(0);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const back = decodeSafetensors(shifted.subarray(1));
    expect(back.metadata).toEqual({});
    for (const [name, t] of m) expect(back.tensors.get(name)).toEqual(t);
  });

  it("rejects truncated files and a header length beyond the file", () => {
    const f = fixture();
    expect(() => decodeSafetensors(f.subarray(0, 5))).toThrow(/truncated file: 5 bytes/);
    expect(() => decodeSafetensors(f.subarray(0, 100))).toThrow(/header length 144 exceeds the 92 bytes/);
    expect(() => decodeSafetensors(f.subarray(0, f.length - 2))).toThrow(/tensor "b": data_offsets \[8, 12\] out of range \(data section has 10 bytes; truncated file\?\)/);
  });

  it("rejects overlapping offsets, gaps, trailing bytes, size mismatches and unknown dtypes", () => {
    const d8 = [0, 0, 0, 0, 0, 0, 0, 0];
    expect(() =>
      decodeSafetensors(build({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] }, b: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, d8)),
    ).toThrow(/overlap/);
    expect(() => decodeSafetensors(build({ a: { dtype: "F32", shape: [1], data_offsets: [4, 8] } }, d8))).toThrow(/gap in the data section/);
    expect(() => decodeSafetensors(build({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, d8))).toThrow(/4 trailing bytes/);
    expect(() => decodeSafetensors(build({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, d8))).toThrow(
      /tensor "a": 8 bytes but shape \[3\] of F32 needs 12/,
    );
    expect(() => decodeSafetensors(build({ a: { dtype: "Q7", shape: [2], data_offsets: [0, 8] } }, d8))).toThrow(/dtype "Q7" is unknown/);
    expect(() => decodeSafetensors(build({ a: { dtype: "BF16", shape: [4], data_offsets: [0, 8] } }, d8))).toThrow(/"BF16" is not supported/);
    expect(() => decodeSafetensors(build({ a: { dtype: "F32", shape: [2], data_offsets: [0] } }, d8))).toThrow(/data_offsets must be/);
    expect(() => decodeSafetensors(build([1, 2], []))).toThrow(/header must be a JSON object/);
    const bad = build({}, []);
    bad[8] = 0x7b;
    bad[9] = 0x7b;
    expect(() => decodeSafetensors(bad)).toThrow(/not valid UTF-8 JSON/);
  });

  it("refuses to encode mismatched data", () => {
    expect(() => encodeSafetensors(new Map([["a", { dtype: "F32", shape: [3], data: new Float32Array(2) }]]))).toThrow(/needs 3 values, data has 2/);
    expect(() => encodeSafetensors(new Map([["a", { dtype: "I32", shape: [2], data: new Float32Array(2) }]]))).toThrow(/needs a Int32Array/);
  });
});
