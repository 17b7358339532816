// vyre kernel `atomics`: entry point `atomics`
// language: metal2.0
#include <metal_stdlib>
#include <simd/simd.h>

using metal::uint;

struct _mslBufferSizes {
    uint size0;
    uint size1;
    uint size2;
    uint size3;
};

typedef uint type_5[1];
typedef metal::atomic_uint type_7[1];
typedef metal::atomic_int type_9[1];
struct type_10 {
    metal::atomic_uint inner[16];
};
struct atomicsParams {
    uint data_len;
    uint bins_len;
    uint misc_len;
    uint olds_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
};
struct _atomic_compare_exchange_result_Sint_4_ {
    int old_value;
    bool exchanged;
    char _pad2[3];
};

template <typename A>
_atomic_compare_exchange_result_Sint_4_ naga_atomic_compare_exchange_weak_explicit(
    device A *atomic_ptr,
    int cmp,
    int v
) {
    bool swapped = metal::atomic_compare_exchange_weak_explicit(
        atomic_ptr, &cmp, v,
        metal::memory_order_relaxed, metal::memory_order_relaxed
    );
    return _atomic_compare_exchange_result_Sint_4_{cmp, swapped};
}
template <typename A>
_atomic_compare_exchange_result_Sint_4_ naga_atomic_compare_exchange_weak_explicit(
    threadgroup A *atomic_ptr,
    int cmp,
    int v
) {
    bool swapped = metal::atomic_compare_exchange_weak_explicit(
        atomic_ptr, &cmp, v,
        metal::memory_order_relaxed, metal::memory_order_relaxed
    );
    return _atomic_compare_exchange_result_Sint_4_{cmp, swapped};
}

struct atomicsInput {
};
kernel void atomics(
  metal::uint3 local_id [[thread_position_in_threadgroup]]
, metal::uint3 workgroup_id [[threadgroup_position_in_grid]]
, metal::uint3 num_workgroups [[threadgroups_per_grid]]
, uint __local_invocation_index [[thread_index_in_threadgroup]]
, device type_5 const& data [[buffer(0)]]
, device type_7& bins [[buffer(1)]]
, device type_9& misc [[buffer(2)]]
, device type_7& olds [[buffer(3)]]
, threadgroup type_10& hist
, constant atomicsParams& params [[buffer(4)]]
, constant _mslBufferSizes& _buffer_sizes [[buffer(5)]]
) {
    if (__local_invocation_index == 0u) {
        for (int __i0 = 0; __i0 < 16; __i0++) {
            metal::atomic_store_explicit(&hist.inner[__i0], 0, metal::memory_order_relaxed);
        }
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    uint i = {};
    uint v = {};
    int sv = {};
    int cur = {};
    int got = {};
    uint oob = {};
    uint h_old = {};
    uint _e17 = params.data_len;
    uint _e19 = params.bins_len;
    uint _e21 = params.misc_len;
    uint _e23 = params.olds_len;
    uint _e25 = params.grid_x;
    uint _e27 = params.grid_y;
    uint _e29 = params.grid_z;
    uint _e31 = params.grid_fold;
    uint _e37 = workgroup_id.y / _e31;
    uint _e39 = ((workgroup_id.y % _e31) * num_workgroups.x) + workgroup_id.x;
    if (_e39 >= _e25) {
        return;
    }
    i = metal::uint3((_e39 * 64u) + local_id.x, (_e37 * 1u) + local_id.y, (workgroup_id.z * 1u) + local_id.z).x;
    uint _e57 = i;
    bool _e58 = _e57 < _e17;
    uint _e62 = data[_e58 ? _e57 : 0u];
    v = _e58 ? _e62 : 0u;
    uint _e65 = v;
    sv = as_type<int>(as_type<uint>(as_type<int>(_e65)) - as_type<uint>(500));
    uint _e69 = i;
    if (_e69 < _e17) {
        uint _e71 = v;
        uint _e76 = metal::atomic_fetch_add_explicit(&hist.inner[_e71 % 16u], 1u, metal::memory_order_relaxed);
        int _e78 = sv;
        bool _e79 = 0u < _e21;
        if (_e79) {
            int _e83 = metal::atomic_fetch_max_explicit(&misc[_e79 ? 0u : 0u], _e78, metal::memory_order_relaxed);
        }
        int _e85 = sv;
        bool _e86 = 1u < _e21;
        if (_e86) {
            int _e90 = metal::atomic_fetch_min_explicit(&misc[_e86 ? 1u : 0u], _e85, metal::memory_order_relaxed);
        }
        uint _e93 = v;
        bool _e97 = 2u < _e21;
        if (_e97) {
            int _e101 = metal::atomic_fetch_or_explicit(&misc[_e97 ? 2u : 0u], 1 << (_e93 & 31u), metal::memory_order_relaxed);
        }
        uint _e104 = v;
        bool _e109 = 3u < _e21;
        if (_e109) {
            int _e113 = metal::atomic_fetch_and_explicit(&misc[_e109 ? 3u : 0u], ~((1 << (_e104 & 31u))), metal::memory_order_relaxed);
        }
        int _e115 = sv;
        bool _e116 = 4u < _e21;
        if (_e116) {
            int _e120 = metal::atomic_fetch_xor_explicit(&misc[_e116 ? 4u : 0u], _e115, metal::memory_order_relaxed);
        }
        int _e122 = sv;
        bool _e123 = 5u < _e21;
        if (_e123) {
            int _e127 = metal::atomic_fetch_sub_explicit(&misc[_e123 ? 5u : 0u], _e122, metal::memory_order_relaxed);
        }
        bool _e129 = 6u < _e21;
        int _e133 = metal::atomic_load_explicit(&misc[_e129 ? 6u : 0u], metal::memory_order_relaxed);
        cur = _e129 ? _e133 : 0;
        got = 0;
        uint2 loop_bound = uint2(4294967295u);
        while(true) {
            if (metal::all(loop_bound == uint2(0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e138 = cur;
            int _e141 = cur;
            bool _e142 = 6u < _e21;
            if (_e142) {
                _atomic_compare_exchange_result_Sint_4_ _e146 = naga_atomic_compare_exchange_weak_explicit(&misc[_e142 ? 6u : 0u], _e141, as_type<int>(as_type<uint>(_e138) + as_type<uint>(1)));
                got = _e146.old_value;
            } else {
                got = 0;
            }
            int _e149 = got;
            int _e150 = cur;
            if (_e149 == _e150) {
                break;
            }
            int _e152 = got;
            cur = _e152;
        }
        uint _e153 = i;
        uint _e155 = _e153 + 1000000u;
        if (_e155 < _e23) {
            uint _e159 = metal::atomic_fetch_add_explicit(&olds[_e155], 5u, metal::memory_order_relaxed);
            oob = _e159;
        } else {
            oob = 0u;
        }
        uint _e161 = i;
        uint _e162 = oob;
        if (_e161 < _e23) {
            metal::atomic_store_explicit(&olds[_e161], _e162 + 7u, metal::memory_order_relaxed);
        }
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    if (local_id.x < 16u) {
        uint _e172 = metal::atomic_load_explicit(&hist.inner[local_id.x], metal::memory_order_relaxed);
        h_old = _e172;
        uint _e174 = h_old;
        if (local_id.x < _e19) {
            uint _e177 = metal::atomic_fetch_add_explicit(&bins[local_id.x], _e174, metal::memory_order_relaxed);
        }
    }
}
