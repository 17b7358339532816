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
    l = local_id.x;
    uint _e12 = l;
    uint _e15 = params.x_len;
    bool _e16 = global_id.x < _e15;
    uint _e20 = x[_e16 ? global_id.x : 0u];
    tile.inner[_e12] = _e16 ? _e20 : 0u;
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    s = 64u;
    uint2 loop_bound = uint2(4294967295u);
    while(true) {
        if (metal::all(loop_bound == uint2(0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e25 = s;
        if (_e25 > 0u) {
        } else {
            break;
        }
        uint _e28 = l;
        uint _e29 = s;
        if (_e28 < _e29) {
            uint _e31 = l;
            uint _e32 = l;
            uint _e34 = tile.inner[_e32];
            uint _e35 = l;
            uint _e36 = s;
            uint _e37 = _e35 + _e36;
            bool _e39 = _e37 < 128u;
            uint _e43 = tile.inner[_e39 ? _e37 : 0u];
            tile.inner[_e31] = _e34 + (_e39 ? _e43 : 0u);
        }
        metal::threadgroup_barrier(metal::mem_flags::mem_device);
        metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
        uint _e48 = s;
        uint _e52 = k0_1_;
        s = _e48 >> (_e52 & 31u);
    }
    uint _e55 = l;
    if (_e55 == 0u) {
        uint _e61 = tile.inner[0u];
        uint _e63 = params.partial_len;
        if (workgroup_id.x < _e63) {
            partial[workgroup_id.x] = _e61;
        }
        uint _e69 = tile.inner[0u];
        uint _e71 = params.total_len;
        bool _e72 = 0u < _e71;
        if (_e72) {
            uint _e76 = metal::atomic_fetch_add_explicit(&total[_e72 ? 0u : 0u], _e69, metal::memory_order_relaxed);
            old = _e76;
        } else {
            old = 0u;
        }
    }
}
