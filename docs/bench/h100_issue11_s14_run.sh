#!/usr/bin/env bash
# Session 14: the proxy-fence change (binaries in .devrun/t11) checked on the
# GPU, every gemm_wg/gemm_wgp instance and attention against cuBLAS/Triton/
# SDPA in the same call, the TMA GEMM of the old emitter (.devrun/t10, one
# fence before every wgmma) beside it, then tuning as time allows. At most
# 7 files come back (the limit is 8).
set -u
T0=$(date +%s)
left() { echo $(( 565 - ($(date +%s) - T0) )); }
cap() { local l; l=$(left); [ "$1" -lt "$l" ] && echo "$1" || echo "$l"; }
mkdir -p "$OUT" /tmp/b /tmp/old
for f in .devrun/t11/*.xz; do n=$(basename $f .xz); xz -dc $f > /tmp/b/$n; chmod +x /tmp/b/$n; done
xz -dc .devrun/t10/vyre-bench.xz > /tmp/old/vyre-bench; chmod +x /tmp/old/vyre-bench
B=/tmp/b
export VYRE_REQUIRE_CUDA=1 VYRE_PTXAS=/usr/local/cuda/bin/ptxas
[ -e /work/main ] || { mkdir -p /work; ln -sfn "$PWD" /work/main; }
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv > $OUT/times.txt 2>&1
stamp() { echo "$1 at $(( $(date +%s) - T0 )) s" >> $OUT/times.txt; }
{
echo "== tile_copies"; timeout $(cap 90) $B/tile_copies --nocapture 2>&1 | grep -E "^test |result|panicked|skipped" | tail -15
echo "== cuda_kernels gemm/attention/warpgroup"; timeout $(cap 150) $B/cuda_kernels gemm attention warpgroup --nocapture 2>&1 | grep -E "^test |result|panicked|skipped" | tail -25
} > $OUT/checks.txt 2>&1
stamp checks
timeout $(cap 170) $B/vyre-bench --device cuda --only gemm_wg 2>&1 | grep '^{' > $OUT/bench.jsonl
stamp gemm_new
timeout $(cap 60) /tmp/old/vyre-bench --device cuda --only gemm_wg_bf16_tma 2>&1 | grep '^{' > $OUT/bench_gemm_old_emitter.jsonl
stamp gemm_old
timeout $(cap 100) python3 .devrun/peers_gemm.py > $OUT/peers.jsonl 2>&1
stamp peers_gemm
timeout $(cap 120) $B/vyre-bench --device cuda --only attention 2>&1 | grep '^{' >> $OUT/bench.jsonl
timeout $(cap 100) python3 .devrun/peers_attn.py >> $OUT/peers.jsonl 2>&1
stamp attention
if [ $(left) -gt 150 ]; then
  cp bench/kernels/vyre-tune.toml /tmp/tune.toml
  timeout $(cap 200) $B/vyre-bench --device cuda --tune /tmp/tune.toml > $OUT/tune.jsonl 2>&1
  cp /tmp/tune.toml $OUT/vyre-tune.toml
  stamp tune
fi
