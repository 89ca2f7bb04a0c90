#!/usr/bin/env bash
# The GPU run of the benchmark suite on a machine that has a CUDA build of JAX
# (with Flax, Optax, NumPy, rich; optionally PyTorch) but no network and no
# nnlang install, e.g. a cloud GPU image:
#
#   benchmarks/gpu.sh wheels          # where pip works: the few missing wheels -> .whl/
#   benchmarks/gpu.sh run [OUT]       # on the GPU machine, from a copy of the repo
#   benchmarks/gpu.sh probe [OUT]     # the open questions of the last GPU run
#                                     # (benchmarks/gpu_probe.py), about 2 minutes
#
# `run` installs .whl/ (if there) into a scratch folder, puts the repo itself
# on PYTHONPATH (no build step), shows what it found, and runs
# `benchmarks/run.py --device gpu` for W4 and W5 first, then the others, under a
# time limit (GPU_BENCH_S, default 480 s). run.py rewrites the GPU section of
# OUT/RESULTS.md after every workload, so a run cut short keeps what it
# finished. OUT (default benchmarks/) starts as a copy of benchmarks/RESULTS.md
# so its CPU section is kept; copy OUT/RESULTS.md back over it to commit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-python3}
WHEELS=(lark==1.3.1 keras==3.15.1 namex==0.1.0 optree==0.20.0)  # keras: peer (c)

case "${1:-}" in
wheels)
    "$PY" -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "${WHEELS[@]}"
    ;;
run|probe)
    out=${2:-benchmarks}
    mkdir -p "$out"
    if compgen -G ".whl/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target /tmp/nnlang-site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/nnlang-site:$PWD${PYTHONPATH:+:$PYTHONPATH}
    else
        export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    fi
    export PYTHONUNBUFFERED=1
    [ "$out/RESULTS.md" -ef benchmarks/RESULTS.md ] || cp benchmarks/RESULTS.md "$out/"
    nvidia-smi -L 2>/dev/null
    "$PY" - <<'EOF' || exit 1
import importlib.metadata as md
import jax
print("jax devices:", jax.devices())
for name in ("jax", "jaxlib", "flax", "optax", "lark", "keras", "torch", "numpy"):
    try:
        print(f"  {name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name}: not installed")
EOF
    if [ "$1" = probe ]; then
        timeout "${GPU_BENCH_S:-480}" "$PY" benchmarks/gpu_probe.py "${@:3}" 2>&1 \
            | tee "$out/probe.log"
        exit
    fi
    timeout "${GPU_BENCH_S:-480}" "$PY" benchmarks/run.py --device gpu \
        --only w4,w5,w3,w2,w1 --out "$out/RESULTS.md" "${@:3}" 2>&1 | tee "$out/gpu.log"
    ;;
*)
    sed -n '2,17p' "$0" | cut -c3-
    exit 2
    ;;
esac
