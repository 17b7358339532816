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
  metal::uint3 global_id [[thread_position_in_grid]]
, metal::uint3 local_id [[thread_position_in_threadgroup]]
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
    uint k0_10_ = 16u;
    uint _e16 = params.data_len;
    uint _e18 = params.bins_len;
    uint _e20 = params.misc_len;
    uint _e22 = params.olds_len;
    i = global_id.x;
    uint _e24 = i;
    bool _e25 = _e24 < _e16;
    uint _e29 = data[_e25 ? _e24 : 0u];
    v = _e25 ? _e29 : 0u;
    uint _e32 = v;
    sv = as_type<int>(as_type<uint>(as_type<int>(_e32)) - as_type<uint>(500));
    uint _e36 = i;
    if (_e36 < _e16) {
        uint _e38 = v;
        uint _e43 = k0_10_;
        bool _e44 = _e43 == 0u;
        uint _e47 = _e44 ? 0u : (_e38 % (_e44 ? 1u : 16u));
        bool _e50 = _e47 < 16u;
        if (_e50) {
            uint _e54 = metal::atomic_fetch_add_explicit(&hist.inner[_e50 ? _e47 : 0u], 1u, metal::memory_order_relaxed);
        }
        int _e56 = sv;
        bool _e57 = 0u < _e20;
        if (_e57) {
            int _e61 = metal::atomic_fetch_max_explicit(&misc[_e57 ? 0u : 0u], _e56, metal::memory_order_relaxed);
        }
        int _e63 = sv;
        bool _e64 = 1u < _e20;
        if (_e64) {
            int _e68 = metal::atomic_fetch_min_explicit(&misc[_e64 ? 1u : 0u], _e63, metal::memory_order_relaxed);
        }
        uint _e71 = v;
        bool _e75 = 2u < _e20;
        if (_e75) {
            int _e79 = metal::atomic_fetch_or_explicit(&misc[_e75 ? 2u : 0u], 1 << (_e71 & 31u), metal::memory_order_relaxed);
        }
        uint _e82 = v;
        bool _e87 = 3u < _e20;
        if (_e87) {
            int _e91 = metal::atomic_fetch_and_explicit(&misc[_e87 ? 3u : 0u], ~((1 << (_e82 & 31u))), metal::memory_order_relaxed);
        }
        int _e93 = sv;
        bool _e94 = 4u < _e20;
        if (_e94) {
            int _e98 = metal::atomic_fetch_xor_explicit(&misc[_e94 ? 4u : 0u], _e93, metal::memory_order_relaxed);
        }
        int _e100 = sv;
        bool _e101 = 5u < _e20;
        if (_e101) {
            int _e105 = metal::atomic_fetch_sub_explicit(&misc[_e101 ? 5u : 0u], _e100, metal::memory_order_relaxed);
        }
        bool _e107 = 6u < _e20;
        int _e111 = metal::atomic_load_explicit(&misc[_e107 ? 6u : 0u], metal::memory_order_relaxed);
        cur = _e107 ? _e111 : 0;
        got = 0;
        uint2 loop_bound = uint2(4294967295u);
        while(true) {
            if (metal::all(loop_bound == uint2(0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e116 = cur;
            int _e119 = cur;
            bool _e120 = 6u < _e20;
            if (_e120) {
                _atomic_compare_exchange_result_Sint_4_ _e124 = naga_atomic_compare_exchange_weak_explicit(&misc[_e120 ? 6u : 0u], _e119, as_type<int>(as_type<uint>(_e116) + as_type<uint>(1)));
                got = _e124.old_value;
            } else {
                got = 0;
            }
            int _e127 = got;
            int _e128 = cur;
            if (_e127 == _e128) {
                break;
            }
            int _e130 = got;
            cur = _e130;
        }
        uint _e131 = i;
        uint _e133 = _e131 + 1000000u;
        if (_e133 < _e22) {
            uint _e137 = metal::atomic_fetch_add_explicit(&olds[_e133], 5u, metal::memory_order_relaxed);
            oob = _e137;
        } else {
            oob = 0u;
        }
        uint _e139 = i;
        uint _e140 = oob;
        if (_e139 < _e22) {
            metal::atomic_store_explicit(&olds[_e139], _e140 + 7u, metal::memory_order_relaxed);
        }
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    if (local_id.x < 16u) {
        bool _e150 = local_id.x < 16u;
        uint _e154 = metal::atomic_load_explicit(&hist.inner[_e150 ? local_id.x : 0u], metal::memory_order_relaxed);
        h_old = _e150 ? _e154 : 0u;
        uint _e158 = h_old;
        if (local_id.x < _e18) {
            uint _e161 = metal::atomic_fetch_add_explicit(&bins[local_id.x], _e158, metal::memory_order_relaxed);
        }
    }
}
