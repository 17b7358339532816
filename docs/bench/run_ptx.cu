// Runs kernel `k(a, out)` of a PTX or cubin file with a = {10, 5, 7} and prints
// out[0] (-10 when correct): `nvcc -o run_ptx run_ptx.cu -lcuda && ./run_ptx
// ptxas_signed_min3_negation.ptx` (driver JIT), or a cubin from ptxas.
#include <cuda.h>
#include <cstdio>
#define CK(x) do { CUresult r = (x); if (r != CUDA_SUCCESS) { const char* s; cuGetErrorString(r, &s); printf("%s: %s\n", #x, s); return 1; } } while (0)
int main(int argc, char** argv) {
  CUdevice dev; CUcontext ctx; CUmodule mod; CUfunction f; CUdeviceptr a, out;
  CK(cuInit(0)); CK(cuDeviceGet(&dev, 0)); CK(cuCtxCreate(&ctx, NULL, 0, dev));
  CK(cuModuleLoad(&mod, argv[1])); CK(cuModuleGetFunction(&f, mod, "k"));
  int h[3] = {10, 5, 7}, r = 12345;
  CK(cuMemAlloc(&a, 12)); CK(cuMemAlloc(&out, 4)); CK(cuMemcpyHtoD(a, h, 12));
  void* args[] = {&a, &out};
  CK(cuLaunchKernel(f, 1, 1, 1, 1, 1, 1, 0, 0, args, 0)); CK(cuCtxSynchronize());
  CK(cuMemcpyDtoH(&r, out, 4));
  printf("%s: min(min(5, -10), 7) = %d (want -10)\n", argv[1], r);
  return 0;
}
