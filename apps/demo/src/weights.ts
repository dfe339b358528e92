// Reading model.safetensors in the browser: 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the raw little-endian tensor data.
// Only F32 is needed here (the trainer saves float32 weights).
import * as tf from "@tensorflow/tfjs-core";

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Decodes safetensors bytes into float32 tensors by name. Caller owns (and disposes) the tensors. */
export function decodeWeights(bytes: Uint8Array): Map<string, tf.Tensor> {
  if (bytes.byteLength < 8) throw new Error(`model.safetensors: ${bytes.byteLength} bytes is too short (truncated file?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (8 + headerLen > bytes.byteLength) throw new Error(`model.safetensors: header of ${headerLen} bytes runs past the end of the file (truncated?)`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen))) as Record<string, Entry | Record<string, string>>;
  const base = 8 + headerLen;
  const out = new Map<string, tf.Tensor>();
  for (const [name, e] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const entry = e as Entry;
    if (entry.dtype !== "F32") throw new Error(`model.safetensors: weight "${name}" has dtype ${entry.dtype}; the demo reads F32`);
    const [start, end] = entry.data_offsets;
    const n = entry.shape.reduce((a, b) => a * b, 1);
    if (end - start !== 4 * n || base + end > bytes.byteLength) {
      throw new Error(`model.safetensors: weight "${name}" [${entry.shape.join(", ")}] has a bad byte range ${start}..${end} (truncated?)`);
    }
    // Copy: the data is not necessarily 4-byte aligned within the file.
    const data = new Float32Array(bytes.slice(base + start, base + end).buffer);
    out.set(name, tf.tensor(data, entry.shape, "float32"));
  }
  return out;
}
