#!/bin/bash
# Issue 13: the CUDA launcher crate on every GPU of this host, one process per GPU.
cd "$(dirname "$0")"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
L=${VYRE_LAUNCHER:-../launcher/vyre-launch-cuda}
NCCL_DIR=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))" 2>/dev/null)
export LD_LIBRARY_PATH=$NCCL_DIR:$LD_LIBRARY_PATH
N=$(nvidia-smi -L | wc -l); echo "GPUs: $N"; nvidia-smi -L
nvidia-smi topo -m | head -12
# per-rank inputs and the summed data
python3 - "$N" <<'PY'
import sys, numpy as np
n = int(sys.argv[1]); rng = np.random.default_rng(3)
parts = [rng.standard_normal(1 << 22).astype(np.float32) for _ in range(n)]
for r, p in enumerate(parts): np.save(f"part{r}.npy", p)
s = parts[0].copy()
for p in parts[1:]: s = s + p          # rank order, as NCCL's ring does not promise
np.save("summed.npy", s)
rows, feat = 1 << 18, 32
x = rng.uniform(-1, 1, (rows, feat)).astype(np.float32); x[:, -1] = 1
w = rng.standard_normal(feat).astype(np.float32)
np.save("tx.npy", x); np.save("ty.npy", (x @ w > 0).astype(np.float32))
PY
run_ranks() {  # run_ranks N ARGS...: one process per GPU, waits for all
  local n=$1; shift; local pids=()
  for ((r = 0; r < n; r++)); do
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 "$L" "$@" > "out_r$r.txt" 2> "err_r$r.txt" &
    pids+=($!)
  done
  local rc=0; for p in "${pids[@]}"; do wait $p || rc=1; done
  cat err_r*.txt | head -5; return $rc
}
echo "== 1. run saxpy on $N ranks, y all-reduced (sum), against one GPU on the summed data"
run_ranks $N run saxpy --in x=part{rank}.npy --len y=4194304 --scalar a=1 --allreduce y:sum --out y=y_rank{rank}.npy; echo "rc=$?"
"$L" run saxpy --in x=summed.npy --len y=4194304 --scalar a=1 --out y=y_one.npy > /dev/null
python3 - "$N" <<'PY'
import sys, numpy as np
n = int(sys.argv[1]); one = np.load("y_one.npy")
for r in range(n):
    y = np.load(f"y_rank{r}.npy")
    print(f"rank {r}: max |y - one GPU on summed| = {np.abs(y - one).max():.3g}, bit-identical: {np.array_equal(y, one)}, ranks agree: {np.array_equal(y, np.load('y_rank0.npy'))}")
PY
T="train --in x=tx.npy --in y=ty.npy --len w=32 --len grad=32 --len err=rows --len loss=rows --scalar lr=1.0 --chunk-rows 131072 --steps 50"
echo "== 2. training loop: 1 GPU, then $N"
"$L" $T --out w=w1.npy > train_1.jsonl; echo "rc=$?"; tail -1 train_1.jsonl
for ((k = 2; k <= N; k *= 2)); do
  run_ranks $k $T --out w=w$k.npy; echo "rc=$?"; cp out_r0.txt train_$k.jsonl; tail -1 train_$k.jsonl
done
python3 - "$N" <<'PY'
import sys, json, numpy as np
def steps(p): return [json.loads(l) for l in open(p) if '"step"' in l]
one = steps("train_1.jsonl")
k = 2
while k <= int(sys.argv[1]):
    s = steps(f"train_{k}.jsonl")
    d = max(abs(a["loss"] - b["loss"]) for a, b in zip(one, s))
    ms1 = sorted(x["ms"] for x in one)[len(one)//2]; msk = sorted(x["ms"] for x in s)[len(s)//2]
    w1, wk = np.load("w1.npy"), np.load(f"w{k}.npy")
    print(f"{k} GPUs: max |loss - 1 GPU| {d:.3g}, max |w - w1| {np.abs(w1 - wk).max():.3g}, median ms/step {msk:.3f} vs {ms1:.3f} on 1 GPU")
    k *= 2
PY
echo "== 3. all-reduce of 256 MiB: vyre launcher (NCCL) vs torch.distributed"
for ((k = 2; k <= N; k *= 2)); do
  run_ranks $k bench-allreduce --mib 256 --iters 20; cat out_r0.txt
  torchrun --nproc_per_node=$k --master_port=29544 allreduce_torch.py 256 2>/dev/null | grep bench
done
cp *.jsonl "$OUT"/ 2>/dev/null; true
