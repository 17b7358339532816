# torch.distributed all-reduce (NCCL) of 256 MiB f32, run with torchrun: the peer of
# the vyre launcher's `bench-allreduce`. Prints one JSON line on rank 0.
import json, os, sys, time
import torch, torch.distributed as dist

dist.init_process_group("nccl")
rank, world = dist.get_rank(), dist.get_world_size()
torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
n = mib * 2**20 // 4
x = torch.zeros(n, device="cuda")
for _ in range(5):
    dist.all_reduce(x)
torch.cuda.synchronize()
iters = 20
out = {}
for mode in ("pipelined", "synchronised"):
    t = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(x)
        if mode == "synchronised":
            torch.cuda.synchronize()
    torch.cuda.synchronize()
    s = (time.perf_counter() - t) / iters
    algbw = n * 4 / s / 1e9
    out[mode] = {"ms": s * 1e3, "algbw_gbs": algbw, "busbw_gbs": algbw * 2 * (world - 1) / world}
if rank == 0:
    print(json.dumps({"bench": "torch_allreduce", "bytes": n * 4, "ranks": world, **out}))
dist.destroy_process_group()
