// vyre kernel `narrow_vector_bf16`: entry point `narrow_vector_bf16_`
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
struct narrow_vector_bf16Params {
    uint x_len;
    uint y_len;
    uint z_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    char _pad7[4];
};

struct narrow_vector_bf16_Input {
};
kernel void narrow_vector_bf16_(
  metal::uint3 local_id [[thread_position_in_threadgroup]]
, metal::uint3 workgroup_id [[threadgroup_position_in_grid]]
, metal::uint3 num_workgroups [[threadgroups_per_grid]]
, device type_5 const& x [[buffer(0)]]
, device type_7& y [[buffer(1)]]
, device type_7& z [[buffer(2)]]
, constant narrow_vector_bf16Params& params [[buffer(3)]]
, constant _mslBufferSizes& _buffer_sizes [[buffer(4)]]
) {
    uint i = {};
    metal::float4 w4_0_ = {};
    uint _e9 = params.x_len;
    uint _e11 = params.y_len;
    uint _e13 = params.z_len;
    uint _e15 = params.grid_x;
    uint _e17 = params.grid_y;
    uint _e19 = params.grid_z;
    uint _e21 = params.grid_fold;
    uint _e27 = workgroup_id.y / _e21;
    uint _e29 = ((workgroup_id.y % _e21) * num_workgroups.x) + workgroup_id.x;
    if (_e29 >= _e15) {
        return;
    }
    i = metal::uint3((_e29 * 64u) + local_id.x, (_e27 * 1u) + local_id.y, (workgroup_id.z * 1u) + local_id.z).x * 4u;
    uint _e50 = i;
    if ((_e50 + 3u) < _e9) {
        uint _e52 = _e50 >> 1u;
        uint _e54 = x[_e52];
        uint _e58 = (_e54 >> 0u) << 16u;
        uint _e70 = (_e54 >> 16u) << 16u;
        uint _e82 = x[_e52 + 1u];
        uint _e86 = (_e82 >> 0u) << 16u;
        uint _e98 = (_e82 >> 16u) << 16u;
        w4_0_ = metal::float4(as_type<float>(((_e58 & 2147483647u) > 2139095040u) ? (_e58 | 4194304u) : _e58), as_type<float>(((_e70 & 2147483647u) > 2139095040u) ? (_e70 | 4194304u) : _e70), as_type<float>(((_e86 & 2147483647u) > 2139095040u) ? (_e86 | 4194304u) : _e86), as_type<float>(((_e98 & 2147483647u) > 2139095040u) ? (_e98 | 4194304u) : _e98));
    } else {
        uint _e112 = _e50 + 0u;
        bool _e113 = _e112 < _e9;
        uint _e115 = _e113 ? _e112 : 0u;
        uint _e123 = x[_e115 >> 1u];
        uint _e126 = (_e123 >> ((_e115 & 1u) << 4u)) << 16u;
        uint _e138 = _e50 + 1u;
        bool _e139 = _e138 < _e9;
        uint _e141 = _e139 ? _e138 : 0u;
        uint _e149 = x[_e141 >> 1u];
        uint _e152 = (_e149 >> ((_e141 & 1u) << 4u)) << 16u;
        uint _e164 = _e50 + 2u;
        bool _e165 = _e164 < _e9;
        uint _e167 = _e165 ? _e164 : 0u;
        uint _e175 = x[_e167 >> 1u];
        uint _e178 = (_e175 >> ((_e167 & 1u) << 4u)) << 16u;
        uint _e190 = _e50 + 3u;
        bool _e191 = _e190 < _e9;
        uint _e193 = _e191 ? _e190 : 0u;
        uint _e201 = x[_e193 >> 1u];
        uint _e204 = (_e201 >> ((_e193 & 1u) << 4u)) << 16u;
        w4_0_ = metal::float4(_e113 ? as_type<float>(((_e126 & 2147483647u) > 2139095040u) ? (_e126 | 4194304u) : _e126) : 0.0, _e139 ? as_type<float>(((_e152 & 2147483647u) > 2139095040u) ? (_e152 | 4194304u) : _e152) : 0.0, _e165 ? as_type<float>(((_e178 & 2147483647u) > 2139095040u) ? (_e178 | 4194304u) : _e178) : 0.0, _e191 ? as_type<float>(((_e204 & 2147483647u) > 2139095040u) ? (_e204 | 4194304u) : _e204) : 0.0);
    }
    float _e217 = w4_0_.x;
    uint _e220 = as_type<uint>(_e217 * -2.5);
    uint _e243 = as_type<uint>(metal::fma(as_type<float>(((_e220 & 2147483647u) > 2139095040u) ? ((_e220 | 4194304u) & 4294901760u) : (((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    uint _e263 = (((_e243 & 2147483647u) > 2139095040u) ? ((_e243 | 4194304u) & 4294901760u) : (((_e243 + 32767u) + ((_e243 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e265 = w4_0_.y;
    uint _e268 = as_type<uint>(_e265 * -2.5);
    uint _e291 = as_type<uint>(metal::fma(as_type<float>(((_e268 & 2147483647u) > 2139095040u) ? ((_e268 | 4194304u) & 4294901760u) : (((_e268 + 32767u) + ((_e268 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    uint _e311 = (((_e291 & 2147483647u) > 2139095040u) ? ((_e291 | 4194304u) & 4294901760u) : (((_e291 + 32767u) + ((_e291 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e313 = w4_0_.z;
    uint _e316 = as_type<uint>(_e313 * -2.5);
    uint _e339 = as_type<uint>(metal::fma(as_type<float>(((_e316 & 2147483647u) > 2139095040u) ? ((_e316 | 4194304u) & 4294901760u) : (((_e316 + 32767u) + ((_e316 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    uint _e359 = (((_e339 & 2147483647u) > 2139095040u) ? ((_e339 | 4194304u) & 4294901760u) : (((_e339 + 32767u) + ((_e339 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e361 = w4_0_.w;
    uint _e364 = as_type<uint>(_e361 * -2.5);
    uint _e387 = as_type<uint>(metal::fma(as_type<float>(((_e364 & 2147483647u) > 2139095040u) ? ((_e364 | 4194304u) & 4294901760u) : (((_e364 + 32767u) + ((_e364 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    uint _e407 = (((_e387 & 2147483647u) > 2139095040u) ? ((_e387 | 4194304u) & 4294901760u) : (((_e387 + 32767u) + ((_e387 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    uint _e408 = i;
    uint _e410 = _e408 + 0u;
    if ((_e410 + 1u) < _e11) {
        metal::atomic_store_explicit(&y[_e410 >> 1u], _e263 | (_e311 << 16u), metal::memory_order_relaxed);
    } else {
        uint _e421 = _e410 + 0u;
        if (_e421 < _e11) {
            uint _e428 = (_e421 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e421 >> 1u], ~((65535u << _e428)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e421 >> 1u], _e263 << _e428, metal::memory_order_relaxed);
        }
        uint _e435 = _e410 + 1u;
        if (_e435 < _e11) {
            uint _e442 = (_e435 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e435 >> 1u], ~((65535u << _e442)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e435 >> 1u], _e311 << _e442, metal::memory_order_relaxed);
        }
    }
    uint _e448 = i;
    uint _e450 = _e448 + 2u;
    if ((_e450 + 1u) < _e11) {
        metal::atomic_store_explicit(&y[_e450 >> 1u], _e359 | (_e407 << 16u), metal::memory_order_relaxed);
    } else {
        uint _e461 = _e450 + 0u;
        if (_e461 < _e11) {
            uint _e468 = (_e461 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e461 >> 1u], ~((65535u << _e468)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e461 >> 1u], _e359 << _e468, metal::memory_order_relaxed);
        }
        uint _e475 = _e450 + 1u;
        if (_e475 < _e11) {
            uint _e482 = (_e475 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e475 >> 1u], ~((65535u << _e482)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e475 >> 1u], _e407 << _e482, metal::memory_order_relaxed);
        }
    }
    uint _e488 = i;
    uint _e490 = _e488 + 1u;
    float _e492 = w4_0_.y;
    uint _e495 = as_type<uint>(_e492 * -2.5);
    uint _e518 = as_type<uint>(metal::fma(as_type<float>(((_e495 & 2147483647u) > 2139095040u) ? ((_e495 | 4194304u) & 4294901760u) : (((_e495 + 32767u) + ((_e495 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    if (_e490 < _e13) {
        uint _e545 = (_e490 & 1u) << 4u;
        metal::atomic_fetch_and_explicit(&z[_e490 >> 1u], ~((65535u << _e545)), metal::memory_order_relaxed);
        metal::atomic_fetch_or_explicit(&z[_e490 >> 1u], ((((_e518 & 2147483647u) > 2139095040u) ? ((_e518 | 4194304u) & 4294901760u) : (((_e518 + 32767u) + ((_e518 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e545, metal::memory_order_relaxed);
    }
    uint _e551 = i;
    uint _e553 = _e551 + 2u;
    float _e555 = w4_0_.z;
    uint _e558 = as_type<uint>(_e555 * -2.5);
    uint _e581 = as_type<uint>(metal::fma(as_type<float>(((_e558 & 2147483647u) > 2139095040u) ? ((_e558 | 4194304u) & 4294901760u) : (((_e558 + 32767u) + ((_e558 >> 16u) & 1u)) & 4294901760u)), 1.0, 0.125));
    if (_e553 < _e13) {
        uint _e608 = (_e553 & 1u) << 4u;
        metal::atomic_fetch_and_explicit(&z[_e553 >> 1u], ~((65535u << _e608)), metal::memory_order_relaxed);
        metal::atomic_fetch_or_explicit(&z[_e553 >> 1u], ((((_e581 & 2147483647u) > 2139095040u) ? ((_e581 | 4194304u) & 4294901760u) : (((_e581 + 32767u) + ((_e581 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e608, metal::memory_order_relaxed);
    }
}
