// model.safetensors -> tfjs tensors by name, through @mixdepth/transformer's codec (pure,
// no fs: it runs in the browser). The codec validates the file and names what is wrong.
import * as tf from "@tensorflow/tfjs-core";
import { decodeSafetensors } from "@mixdepth/transformer";

/** Decodes safetensors bytes into tensors by name. Caller owns (and disposes) the tensors. */
export function decodeWeights(bytes: Uint8Array): Map<string, tf.Tensor> {
  const { tensors } = decodeSafetensors(bytes);
  const out = new Map<string, tf.Tensor>();
  for (const [name, t] of tensors) out.set(name, tf.tensor(t.data, t.shape, t.dtype === "F32" ? "float32" : "int32"));
  return out;
}
