#!/bin/bash
# Device run of the CUDA launcher crate (issue 12).
cd "$(dirname "$0")"
L=./vyre-launch-cuda
NCCL_DIR=$(python3 -c "import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], 'lib'))" 2>/dev/null)
echo "nccl dir: $NCCL_DIR"; ls $NCCL_DIR 2>&1 | head -3
export LD_LIBRARY_PATH=$NCCL_DIR:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
$L verify; echo "verify rc=$?"
$L run saxpy --in x=sx.npy --in y=sy.npy --scalar a=1.75 --out y=cuda_saxpy.npy; echo "run rc=$?"
cmp cuda_saxpy.npy ref_saxpy.npy && echo SAXPY_BITEXACT_VS_REFERENCE
T="train --in x=tx.npy --in y=ty.npy --len w=8 --len grad=8 --len err=rows --len loss=rows --scalar lr=1.0 --chunk-rows 4096 --steps 100"
$L $T --out w=cuda_w.npy > cuda_train.jsonl; echo "train rc=$?"
tail -1 cuda_train.jsonl
NCCL_DEBUG=INFO RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 $L $T --out w=cuda_w_ws1.npy > cuda_train_ws1.jsonl 2> nccl_ws1.log; echo "train ws1 rc=$?"
grep -m5 -E "NCCL INFO (NCCL version|comm|Init|cudaDev|NVLS)" nccl_ws1.log; grep -c "" nccl_ws1.log
tail -1 cuda_train_ws1.jsonl
python3 - <<'PY'
import json, struct
def load(p):
    return [json.loads(l) for l in open(p)]
def npy(p):
    b = open(p,'rb').read(); hl = struct.unpack('<H', b[8:10])[0]; d = b[10+hl:]
    return struct.unpack('<%df' % (len(d)//4), d)
r, c, c1 = load('ref_train.jsonl'), load('cuda_train.jsonl'), load('cuda_train_ws1.jsonl')
rs = [l['loss'] for l in r if 'step' in l]; cs = [l['loss'] for l in c if 'step' in l]; c1s = [l['loss'] for l in c1 if 'step' in l]
print('steps', len(rs), len(cs), len(c1s))
print('max |loss cuda - loss ref|', max(abs(a-b) for a,b in zip(rs,cs)))
print('max |loss ws1 - loss cuda|', max(abs(a-b) for a,b in zip(cs,c1s)))
for i in (0, 10, 50, 99, 100, 150, 199):
    print('step', i, 'ref %.6f cuda %.6f ws1 %.6f' % (rs[i], cs[i], c1s[i]))
print('summary ref', r[-1]); print('summary cuda', c[-1]); print('summary ws1', c1[-1])
wr, wc = npy('ref_w.npy'), npy('cuda_w.npy')
print('w ref ', ['%.5f' % v for v in wr]); print('w cuda', ['%.5f' % v for v in wc])
print('ms per step cuda (median)', sorted(l['ms'] for l in c if 'step' in l)[len(cs)//2])
PY
NCCL_DEBUG=INFO RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 $L run saxpy --in x=sx.npy --in y=sy.npy --scalar a=1.75 --allreduce y:sum --out y=cuda_saxpy_ar.npy 2> nccl_run.log; echo "run+allreduce rc=$?"; grep -m2 "NCCL INFO NCCL version\|Init COMPLETE" nccl_run.log
cmp cuda_saxpy_ar.npy ref_saxpy.npy && echo SAXPY_ALLREDUCE_WS1_BITEXACT
mkdir -p b2 && cp bundle/* b2/ && printf x >> b2/saxpy.saxpy.ptx.ptx && $L verify --bundle b2; echo "tampered rc=$?"
$L run saxpy --in x=sx.npy --in y=ty.npy --scalar a=1 --out y=never.npy; echo "short y rc=$?"
RANK=0 WORLD_SIZE=2 $L $T; echo "ws2-no-master rc=$?"
compute-sanitizer --tool memcheck --print-limit 5 $L run saxpy --in x=sx.npy --in y=sy.npy --scalar a=1.75 --out y=san.npy 2>&1 | tail -3
compute-sanitizer --tool memcheck --print-limit 5 $L $T --steps 3 2>&1 | tail -2
LD_LIBRARY_PATH=$NCCL_DIR:$LD_LIBRARY_PATH VYRE_REQUIRE_CUDA=1 ./nccl_unit nccl 2>&1 | tail -4
cp *.jsonl *.log "$OUT"/ 2>/dev/null; true
