#!/usr/bin/env bash
# One prepared GPU check for the twin (under 5 minutes on one GPU; CI never runs it): the CUDA
# device, a short bf16-autocast training run of the quick preset on it (resumed once), and the
# step time of train.train_step at the bench shape and at about 50 M parameters, dense and MoD.
# Run from the repository root: bash python/mixdepth-torch/scripts/gpu-check.sh
# Python: $MIXDEPTH_PYTHON, else python3 (a torch with CUDA). Prints what the README's GPU table needs.
set -euo pipefail
PY="${MIXDEPTH_PYTHON:-python3}"
export PYTHONPATH="python/mixdepth-torch${PYTHONPATH:+:$PYTHONPATH}"
OUT="${OUT:-$(mktemp -d)}"
nvidia-smi -L || true
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
# Text that needs no corpus package (node_modules may be absent on a GPU machine).
"$PY" -c "import random; random.seed(0); w='the quick brown fox jumps over a lazy dog and runs away'.split(); open('$OUT/text.txt','w').write(' '.join(random.choice(w) for _ in range(200000)))"
cfg="--preset quick --device cuda --data $OUT/text.txt --set data.cacheDir=$OUT/cache --set training.evalEvery=25 --set training.checkpointEvery=25"
timeout 120 "$PY" -m mixdepth_torch.train $cfg --steps 50 --out "$OUT/quick" --stop-after 25 | tail -3
timeout 120 "$PY" -m mixdepth_torch.train $cfg --steps 50 --out "$OUT/quick" --resume | tail -4
BENCH='{"vocabSize":256,"dModel":256,"nHeads":8,"nLayers":8,"contextLength":256,"family":"gpt2"}'
BIG='{"vocabSize":256,"dModel":512,"nHeads":8,"nLayers":16,"contextLength":512,"family":"gpt2"}'
echo "bench shape (d=256 L=8 S=256 B=8, 2 micro-batches):"
timeout 120 "$PY" -m mixdepth_torch.bench --device cuda --model "$BENCH" --batch 8 --micro 2 --steps 10
echo "about 50 M parameters (d=512 L=16 S=512 B=8):"
timeout 120 "$PY" -m mixdepth_torch.bench --device cuda --model "$BIG" --batch 8 --micro 1 --steps 10
