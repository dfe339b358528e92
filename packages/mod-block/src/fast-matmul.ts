// A 2-D matmul whose forward and backward run only untransposed (NN) matmul kernels.
// Measured on wasm (tfjs 4.22, SIMD, 1 thread; [2048,256]x[256,768]): NN 14.9 GFLOP/s, but
// transposeA 0.4, transposeB 1.1, both 0.3 GFLOP/s, while an explicit transpose then NN runs
// at 9.5. tf.matMul's own gradient uses the transposed forms (dA = dy B^T, dB = A^T dy), so
// backward passes on wasm were 10-40x slower than forward. The matmul kernels executed have
// the same M, N, K as tf.matMul's, so FLOPs accounting is unchanged.
import * as tf from "@tensorflow/tfjs-core";

type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** op(a) @ op(b) for 2-D a, b, with op = transpose when the flag is set. Caller owns the result. */
export function fastMatMul(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  const f = tf.customGrad(((x: tf.Tensor2D, y: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const A = transposeA ? tf.transpose(x) : x; // [M, K]
    const B = transposeB ? tf.transpose(y) : y; // [K, N]
    save([A, B]);
    return {
      value: tf.matMul(A, B),
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [As, Bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        const dA = tf.matMul(dy, tf.transpose(Bs)); // [M, K]
        const dB = tf.matMul(tf.transpose(As), dy); // [K, N]
        return [transposeA ? tf.transpose(dA) : dA, transposeB ? tf.transpose(dB) : dB];
      },
    };
  }) as unknown as CustomGradFn);
  return f(a, b) as tf.Tensor2D;
}
