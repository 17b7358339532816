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
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    char _pad7[4];
};

struct reduce_sumInput {
};
kernel void reduce_sum(
  metal::uint3 local_id [[thread_position_in_threadgroup]]
, metal::uint3 workgroup_id [[threadgroup_position_in_grid]]
, metal::uint3 num_workgroups [[threadgroups_per_grid]]
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
    uint _e18 = params.grid_x;
    uint _e20 = params.grid_y;
    uint _e22 = params.grid_z;
    uint _e24 = params.grid_fold;
    uint _e30 = workgroup_id.y / _e24;
    uint _e32 = ((workgroup_id.y % _e24) * num_workgroups.x) + workgroup_id.x;
    if (_e32 >= _e18) {
        return;
    }
    l = local_id.x;
    uint _e50 = l;
    bool _e52 = metal::uint3((_e32 * 128u) + local_id.x, (_e30 * 1u) + local_id.y, (workgroup_id.z * 1u) + local_id.z).x < _e12;
    uint _e56 = x[_e52 ? metal::uint3((_e32 * 128u) + local_id.x, (_e30 * 1u) + local_id.y, (workgroup_id.z * 1u) + local_id.z).x : 0u];
    tile.inner[_e50] = _e52 ? _e56 : 0u;
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    s = 64u;
    uint2 loop_bound = uint2(4294967295u);
    while(true) {
        if (metal::all(loop_bound == uint2(0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e61 = s;
        if (_e61 > 0u) {
        } else {
            break;
        }
        uint _e64 = l;
        uint _e65 = s;
        if (_e64 < _e65) {
            uint _e67 = l;
            uint _e68 = l;
            uint _e70 = tile.inner[_e68];
            uint _e71 = l;
            uint _e72 = s;
            uint _e73 = _e71 + _e72;
            bool _e75 = _e73 < 128u;
            uint _e79 = tile.inner[_e75 ? _e73 : 0u];
            tile.inner[_e67] = _e70 + (_e75 ? _e79 : 0u);
        }
        metal::threadgroup_barrier(metal::mem_flags::mem_device);
        metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
        uint _e84 = s;
        uint _e88 = k0_1_;
        s = _e84 >> (_e88 & 31u);
    }
    uint _e91 = l;
    if (_e91 == 0u) {
        uint _e97 = tile.inner[0u];
        if (metal::uint3(_e32, _e30, workgroup_id.z).x < _e14) {
            partial[metal::uint3(_e32, _e30, workgroup_id.z).x] = _e97;
        }
        uint _e103 = tile.inner[0u];
        bool _e104 = 0u < _e16;
        if (_e104) {
            uint _e108 = metal::atomic_fetch_add_explicit(&total[_e104 ? 0u : 0u], _e103, metal::memory_order_relaxed);
            old = _e108;
        } else {
            old = 0u;
        }
    }
}
