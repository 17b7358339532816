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
        uint _e39 = k0_10_;
        bool _e40 = _e39 == 0u;
        uint _e43 = _e40 ? 0u : (_e34 % (_e40 ? 1u : 16u));
        bool _e46 = _e43 < 16u;
        if (_e46) {
            uint _e50 = metal::atomic_fetch_add_explicit(&hist.inner[_e46 ? _e43 : 0u], 1u, metal::memory_order_relaxed);
        }
        int _e52 = sv;
        uint _e54 = params.misc_len;
        bool _e55 = 0u < _e54;
        if (_e55) {
            int _e59 = metal::atomic_fetch_max_explicit(&misc[_e55 ? 0u : 0u], _e52, metal::memory_order_relaxed);
        }
        int _e61 = sv;
        uint _e63 = params.misc_len;
        bool _e64 = 1u < _e63;
        if (_e64) {
            int _e68 = metal::atomic_fetch_min_explicit(&misc[_e64 ? 1u : 0u], _e61, metal::memory_order_relaxed);
        }
        uint _e71 = v;
        uint _e76 = params.misc_len;
        bool _e77 = 2u < _e76;
        if (_e77) {
            int _e81 = metal::atomic_fetch_or_explicit(&misc[_e77 ? 2u : 0u], 1 << (_e71 & 31u), metal::memory_order_relaxed);
        }
        uint _e84 = v;
        uint _e90 = params.misc_len;
        bool _e91 = 3u < _e90;
        if (_e91) {
            int _e95 = metal::atomic_fetch_and_explicit(&misc[_e91 ? 3u : 0u], ~((1 << (_e84 & 31u))), metal::memory_order_relaxed);
        }
        int _e97 = sv;
        uint _e99 = params.misc_len;
        bool _e100 = 4u < _e99;
        if (_e100) {
            int _e104 = metal::atomic_fetch_xor_explicit(&misc[_e100 ? 4u : 0u], _e97, metal::memory_order_relaxed);
        }
        int _e106 = sv;
        uint _e108 = params.misc_len;
        bool _e109 = 5u < _e108;
        if (_e109) {
            int _e113 = metal::atomic_fetch_sub_explicit(&misc[_e109 ? 5u : 0u], _e106, metal::memory_order_relaxed);
        }
        uint _e116 = params.misc_len;
        bool _e117 = 6u < _e116;
        int _e121 = metal::atomic_load_explicit(&misc[_e117 ? 6u : 0u], metal::memory_order_relaxed);
        cur = _e117 ? _e121 : 0;
        got = 0;
        uint2 loop_bound = uint2(4294967295u);
        while(true) {
            if (metal::all(loop_bound == uint2(0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e126 = cur;
            int _e129 = cur;
            uint _e131 = params.misc_len;
            bool _e132 = 6u < _e131;
            if (_e132) {
                _atomic_compare_exchange_result_Sint_4_ _e136 = naga_atomic_compare_exchange_weak_explicit(&misc[_e132 ? 6u : 0u], _e129, as_type<int>(as_type<uint>(_e126) + as_type<uint>(1)));
                got = _e136.old_value;
            } else {
                got = 0;
            }
            int _e139 = got;
            int _e140 = cur;
            if (_e139 == _e140) {
                break;
            }
            int _e142 = got;
            cur = _e142;
        }
        uint _e143 = i;
        uint _e145 = _e143 + 1000000u;
        uint _e148 = params.olds_len;
        if (_e145 < _e148) {
            uint _e151 = metal::atomic_fetch_add_explicit(&olds[_e145], 5u, metal::memory_order_relaxed);
            oob = _e151;
        } else {
            oob = 0u;
        }
        uint _e153 = i;
        uint _e154 = oob;
        uint _e158 = params.olds_len;
        if (_e153 < _e158) {
            metal::atomic_store_explicit(&olds[_e153], _e154 + 7u, metal::memory_order_relaxed);
        }
    }
    metal::threadgroup_barrier(metal::mem_flags::mem_device);
    metal::threadgroup_barrier(metal::mem_flags::mem_threadgroup);
    if (local_id.x < 16u) {
        bool _e166 = local_id.x < 16u;
        uint _e170 = metal::atomic_load_explicit(&hist.inner[_e166 ? local_id.x : 0u], metal::memory_order_relaxed);
        h_old = _e166 ? _e170 : 0u;
        uint _e174 = h_old;
        uint _e176 = params.bins_len;
        if (local_id.x < _e176) {
            uint _e179 = metal::atomic_fetch_add_explicit(&bins[local_id.x], _e174, metal::memory_order_relaxed);
        }
    }
}
