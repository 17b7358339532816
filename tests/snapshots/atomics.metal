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
    i = global_id.x;
    uint _e16 = i;
    uint _e18 = params.data_len;
    bool _e19 = _e16 < _e18;
    uint _e23 = data[_e19 ? _e16 : 0u];
    v = _e19 ? _e23 : 0u;
    uint _e26 = v;
    sv = as_type<int>(as_type<uint>(as_type<int>(_e26)) - as_type<uint>(500));
    uint _e30 = i;
    uint _e32 = params.data_len;
    if (_e30 < _e32) {
        uint _e34 = v;
        bool _e38 = 16u == 0u;
        uint _e41 = _e38 ? 0u : (_e34 % (_e38 ? 1u : 16u));
        if (_e41 < 16u) {
            uint _e44 = metal::atomic_fetch_add_explicit(&hist.inner[_e41], 1u, metal::memory_order_relaxed);
        }
        int _e48 = sv;
        uint _e52 = params.misc_len;
        if (0u < _e52) {
            int _e50 = metal::atomic_fetch_max_explicit(&misc[0u], _e48, metal::memory_order_relaxed);
        }
        int _e55 = sv;
        uint _e59 = params.misc_len;
        if (1u < _e59) {
            int _e57 = metal::atomic_fetch_min_explicit(&misc[1u], _e55, metal::memory_order_relaxed);
        }
        uint _e63 = v;
        uint _e70 = params.misc_len;
        if (2u < _e70) {
            int _e68 = metal::atomic_fetch_or_explicit(&misc[2u], 1 << (_e63 & 31u), metal::memory_order_relaxed);
        }
        uint _e74 = v;
        uint _e82 = params.misc_len;
        if (3u < _e82) {
            int _e80 = metal::atomic_fetch_and_explicit(&misc[3u], ~((1 << (_e74 & 31u))), metal::memory_order_relaxed);
        }
        int _e85 = sv;
        uint _e89 = params.misc_len;
        if (4u < _e89) {
            int _e87 = metal::atomic_fetch_xor_explicit(&misc[4u], _e85, metal::memory_order_relaxed);
        }
        int _e92 = sv;
        uint _e96 = params.misc_len;
        if (5u < _e96) {
            int _e94 = metal::atomic_fetch_sub_explicit(&misc[5u], _e92, metal::memory_order_relaxed);
        }
        uint _e100 = params.misc_len;
        bool _e101 = 6u < _e100;
        int _e105 = metal::atomic_load_explicit(&misc[_e101 ? 6u : 0u], metal::memory_order_relaxed);
        cur = _e101 ? _e105 : 0;
        got = 0;
        uint2 loop_bound = uint2(4294967295u);
        while(true) {
            if (metal::all(loop_bound == uint2(0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e110 = cur;
            int _e113 = cur;
            uint _e118 = params.misc_len;
            if (6u < _e118) {
                _atomic_compare_exchange_result_Sint_4_ _e115 = naga_atomic_compare_exchange_weak_explicit(&misc[6u], _e113, as_type<int>(as_type<uint>(_e110) + as_type<uint>(1)));
                got = _e115.old_value;
            } else {
                got = 0;
            }
            int _e121 = got;
            int _e122 = cur;
            if (_e121 == _e122) {
                break;
            }
            int _e124 = got;
            cur = _e124;
        }
        uint _e125 = i;
        uint _e127 = _e125 + 1000000u;
        uint _e132 = params.olds_len;
        if (_e127 < _e132) {
            uint _e130 = metal::atomic_fetch_add_explicit(&olds[_e127], 5u, metal::memory_order_relaxed);
            oob = _e130;
        } else {
            oob = 0u;
        }
        uint _e135 = i;
        uint _e136 = oob;
        uint _e140 = params.olds_len;
        if (_e135 < _e140) {
            metal::atomic_store_explicit(&olds[_e135], _e136 + 7u, metal::memory_order_relaxed);
        }
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    if (local_id.x < 16u) {
        bool _e148 = local_id.x < 16u;
        uint _e152 = metal::atomic_load_explicit(&hist.inner[_e148 ? local_id.x : 0u], metal::memory_order_relaxed);
        h_old = _e148 ? _e152 : 0u;
        uint _e156 = h_old;
        uint _e160 = params.bins_len;
        if (local_id.x < _e160) {
            uint _e158 = metal::atomic_fetch_add_explicit(&bins[local_id.x], _e156, metal::memory_order_relaxed);
        }
    }
}
