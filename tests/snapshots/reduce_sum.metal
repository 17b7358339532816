// vyre kernel `reduce_sum`: entry point `reduce_sum`
// language: metal2.0
#include <metal_stdlib>
#include <simd/simd.h>

using metal::uint;

struct _mslBufferSizes {
    uint size0;
    uint size1;
    uint size2;
};

typedef uint type_5[1];
typedef metal::atomic_uint type_7[1];
struct type_8 {
    uint inner[128];
};
struct reduce_sumParams {
    uint x_len;
    uint partial_len;
    uint total_len;
    char _pad3[4];
};

struct reduce_sumInput {
};
kernel void reduce_sum(
  metal::uint3 global_id [[thread_position_in_grid]]
, metal::uint3 local_id [[thread_position_in_threadgroup]]
, metal::uint3 workgroup_id [[threadgroup_position_in_grid]]
, uint __local_invocation_index [[thread_index_in_threadgroup]]
, device type_5 const& x [[buffer(0)]]
, device type_5& partial [[buffer(1)]]
, device type_7& total [[buffer(2)]]
, threadgroup type_8& tile
, constant reduce_sumParams& params [[buffer(3)]]
, constant _mslBufferSizes& _buffer_sizes [[buffer(4)]]
) {
    if (__local_invocation_index == 0u) {
        tile = {};
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    uint l = {};
    uint s = {};
    uint old = {};
    uint k0_1_ = 1u;
    uint _e12 = params.x_len;
    uint _e14 = params.partial_len;
    uint _e16 = params.total_len;
    l = local_id.x;
    uint _e18 = l;
    bool _e20 = global_id.x < _e12;
    uint _e24 = x[_e20 ? global_id.x : 0u];
    tile.inner[_e18] = _e20 ? _e24 : 0u;
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    s = 64u;
    uint2 loop_bound = uint2(4294967295u);
    while(true) {
        if (metal::all(loop_bound == uint2(0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e29 = s;
        if (_e29 > 0u) {
        } else {
            break;
        }
        uint _e32 = l;
        uint _e33 = s;
        if (_e32 < _e33) {
            uint _e35 = l;
            uint _e36 = l;
            uint _e38 = tile.inner[_e36];
            uint _e39 = l;
            uint _e40 = s;
            uint _e41 = _e39 + _e40;
            bool _e43 = _e41 < 128u;
            uint _e47 = tile.inner[_e43 ? _e41 : 0u];
            tile.inner[_e35] = _e38 + (_e43 ? _e47 : 0u);
        }
        metal::threadgroup_barrier(metal::mem_flags::mem_device);
        metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
        uint _e52 = s;
        uint _e56 = k0_1_;
        s = _e52 >> (_e56 & 31u);
    }
    uint _e59 = l;
    if (_e59 == 0u) {
        uint _e65 = tile.inner[0u];
        if (workgroup_id.x < _e14) {
            partial[workgroup_id.x] = _e65;
        }
        uint _e71 = tile.inner[0u];
        bool _e72 = 0u < _e16;
        if (_e72) {
            uint _e76 = metal::atomic_fetch_add_explicit(&total[_e72 ? 0u : 0u], _e71, metal::memory_order_relaxed);
            old = _e76;
        } else {
            old = 0u;
        }
    }
}
