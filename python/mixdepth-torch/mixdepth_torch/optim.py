"""AdamW, the learning-rate schedule and global-norm clipping, as packages/train/src/{adamw,
schedule,clip}.ts compute them (the same operations in the same order, float32 tensors, float64
scalars), so a twin step and a TypeScript step agree to float rounding and a checkpoint's
moments mean the same thing on both sides.

AdamW (decoupled decay, PyTorch's convention): m <- b1 m + (1 - b1) g; v <- b2 v + (1 - b2) g^2;
p <- p (1 - lr wd) [decayed weights only] - lr (m / bc1) / (sqrt(v / bc2) + eps), with
bc_i = 1 - b_i^t. Decayed: matrices; not: rank-1 weights (norm gains, biases) and the embedding
tables tok_emb, pos_emb, unless training.decayNormsAndBiases / decayEmbeddings say so.
Parameters are keyed by their TypeScript weight names (model.named_weights()), which is also
how trainer-state.safetensors names the moments (m.<name>, v.<name>).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

import torch

DecayRule = Callable[[str, Sequence[int]], bool]


def decay_rule(decay_embeddings: bool, decay_norms_and_biases: bool) -> DecayRule:
    def rule(name: str, shape: Sequence[int]) -> bool:
        if name in ("tok_emb", "pos_emb"):
            return decay_embeddings
        if len(shape) < 2:
            return decay_norms_and_biases
        return True

    return rule


def learning_rate(lr: float, min_lr: float, warmup_steps: int, steps: int, step: int) -> float:
    """Rate of the step with 0-based index ``step``: linear warmup, then cosine to minLr at the last step."""
    if step < warmup_steps:
        return (lr * (step + 1)) / warmup_steps
    decay_steps = max(1, steps - warmup_steps - 1)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def global_norm(grads: Iterable[torch.Tensor]) -> torch.Tensor:
    """sqrt(sum_i sum(g_i^2)) in float32 (clip.ts)."""
    sq = [torch.sum(torch.square(g.float())) for g in grads]
    return torch.sqrt(torch.stack(sq).sum()) if sq else torch.zeros(())


def clip_by_global_norm(grads: Sequence[torch.Tensor], max_norm: float, reduce: Optional[Callable[[float], float]] = None) -> float:
    """Scales ``grads`` in place by max_norm / (norm + 1e-6) when max_norm > 0 and the norm exceeds it; returns the pre-clip norm.
    ``reduce`` sums the squared norm over ranks when each holds a shard of the gradients (FSDP)."""
    if reduce is None:
        norm = float(global_norm(grads))
    else:
        sq = float(sum(torch.sum(torch.square(g.float())) for g in grads)) if grads else 0.0
        norm = math.sqrt(reduce(sq))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)
    return norm


class AdamW:
    """AdamW over named parameters; ``step`` is the bias-correction t (trainer-state optimizerStep)."""

    def __init__(self, params: Mapping[str, torch.Tensor], beta1: float, beta2: float, eps: float, weight_decay: float, decay: DecayRule,
                 shapes: Optional[Mapping[str, Sequence[int]]] = None) -> None:
        """``shapes``: the weights' whole shapes for the decay rule, when ``params`` are shards (FSDP)."""
        for k, v in (("beta1", beta1), ("beta2", beta2)):
            if not (0 <= v < 1):
                raise ValueError(f"AdamW: {k} must be a number in [0, 1) (got {v})")
        if not (eps > 0 and math.isfinite(eps)):
            raise ValueError(f"AdamW: eps must be a finite number > 0 (got {eps})")
        if not (weight_decay >= 0 and math.isfinite(weight_decay)):
            raise ValueError(f"AdamW: weightDecay must be a finite number >= 0 (got {weight_decay})")
        self.params = dict(params)
        self.beta1, self.beta2, self.eps, self.weight_decay = beta1, beta2, eps, weight_decay
        self.step = 0
        self.m: Dict[str, torch.Tensor] = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in self.params.items()}
        self.v: Dict[str, torch.Tensor] = {n: torch.zeros_like(p, dtype=torch.float32) for n, p in self.params.items()}
        self.decayed = [n for n, p in self.params.items() if weight_decay > 0 and decay(n, tuple(shapes[n] if shapes else p.shape))]
        self._decayed = set(self.decayed)

    @torch.no_grad()
    def apply(self, grads: Mapping[str, torch.Tensor], lr: float) -> None:
        self.step += 1
        b1, b2, eps, wd = self.beta1, self.beta2, self.eps, self.weight_decay
        bc1 = 1 - math.pow(b1, self.step)
        bc2 = 1 - math.pow(b2, self.step)
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                raise KeyError(f'AdamW: no gradient for "{name}"')
            g = g.float()
            m1 = self.m[name] * b1 + g * (1 - b1)
            v1 = self.v[name] * b2 + torch.square(g) * (1 - b2)
            self.m[name] = m1
            self.v[name] = v1
            update = (m1 / bc1) / (torch.sqrt(v1 / bc2) + eps)
            decayed = p * (1 - lr * wd) if name in self._decayed else p
            p.copy_(decayed - update * lr)

    def get_state(self) -> Tuple[int, Dict[str, torch.Tensor], Dict[str, torch.Tensor]]:
        return self.step, self.m, self.v

    def set_state(self, step: int, m: Mapping[str, torch.Tensor], v: Mapping[str, torch.Tensor]) -> None:
        """Restores moments and step; every name and size must match (adamw.ts setState's messages)."""
        for which, src in (("m", m), ("v", v)):
            for name, t in self.params.items():
                if name not in src:
                    raise ValueError(f'optimizer state: missing {which} for "{name}"')
                if src[name].numel() != t.numel():
                    raise ValueError(f'optimizer state: {which} of "{name}" has {src[name].numel()} values, expected {t.numel()}')
            for name in src:
                if name not in self.params:
                    raise ValueError(f'optimizer state: unknown weight "{name}" in {which}')
        for name, p in self.params.items():
            self.m[name] = torch.as_tensor(m[name], dtype=torch.float32).reshape(p.shape).to(p.device).clone()
            self.v[name] = torch.as_tensor(v[name], dtype=torch.float32).reshape(p.shape).to(p.device).clone()
        self.step = int(step)
