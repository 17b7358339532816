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
    uint _e242 = as_type<uint>(as_type<float>(((_e220 & 2147483647u) > 2139095040u) ? ((_e220 | 4194304u) & 4294901760u) : (((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    uint _e262 = (((_e242 & 2147483647u) > 2139095040u) ? ((_e242 | 4194304u) & 4294901760u) : (((_e242 + 32767u) + ((_e242 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e264 = w4_0_.y;
    uint _e267 = as_type<uint>(_e264 * -2.5);
    uint _e289 = as_type<uint>(as_type<float>(((_e267 & 2147483647u) > 2139095040u) ? ((_e267 | 4194304u) & 4294901760u) : (((_e267 + 32767u) + ((_e267 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    uint _e309 = (((_e289 & 2147483647u) > 2139095040u) ? ((_e289 | 4194304u) & 4294901760u) : (((_e289 + 32767u) + ((_e289 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e311 = w4_0_.z;
    uint _e314 = as_type<uint>(_e311 * -2.5);
    uint _e336 = as_type<uint>(as_type<float>(((_e314 & 2147483647u) > 2139095040u) ? ((_e314 | 4194304u) & 4294901760u) : (((_e314 + 32767u) + ((_e314 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    uint _e356 = (((_e336 & 2147483647u) > 2139095040u) ? ((_e336 | 4194304u) & 4294901760u) : (((_e336 + 32767u) + ((_e336 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    float _e358 = w4_0_.w;
    uint _e361 = as_type<uint>(_e358 * -2.5);
    uint _e383 = as_type<uint>(as_type<float>(((_e361 & 2147483647u) > 2139095040u) ? ((_e361 | 4194304u) & 4294901760u) : (((_e361 + 32767u) + ((_e361 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    uint _e403 = (((_e383 & 2147483647u) > 2139095040u) ? ((_e383 | 4194304u) & 4294901760u) : (((_e383 + 32767u) + ((_e383 >> 16u) & 1u)) & 4294901760u)) >> 16u;
    uint _e404 = i;
    uint _e406 = _e404 + 0u;
    if ((_e406 + 1u) < _e11) {
        metal::atomic_store_explicit(&y[_e406 >> 1u], _e262 | (_e309 << 16u), metal::memory_order_relaxed);
    } else {
        uint _e417 = _e406 + 0u;
        if (_e417 < _e11) {
            uint _e424 = (_e417 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e417 >> 1u], ~((65535u << _e424)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e417 >> 1u], _e262 << _e424, metal::memory_order_relaxed);
        }
        uint _e431 = _e406 + 1u;
        if (_e431 < _e11) {
            uint _e438 = (_e431 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e431 >> 1u], ~((65535u << _e438)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e431 >> 1u], _e309 << _e438, metal::memory_order_relaxed);
        }
    }
    uint _e444 = i;
    uint _e446 = _e444 + 2u;
    if ((_e446 + 1u) < _e11) {
        metal::atomic_store_explicit(&y[_e446 >> 1u], _e356 | (_e403 << 16u), metal::memory_order_relaxed);
    } else {
        uint _e457 = _e446 + 0u;
        if (_e457 < _e11) {
            uint _e464 = (_e457 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e457 >> 1u], ~((65535u << _e464)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e457 >> 1u], _e356 << _e464, metal::memory_order_relaxed);
        }
        uint _e471 = _e446 + 1u;
        if (_e471 < _e11) {
            uint _e478 = (_e471 & 1u) << 4u;
            metal::atomic_fetch_and_explicit(&y[_e471 >> 1u], ~((65535u << _e478)), metal::memory_order_relaxed);
            metal::atomic_fetch_or_explicit(&y[_e471 >> 1u], _e403 << _e478, metal::memory_order_relaxed);
        }
    }
    uint _e484 = i;
    uint _e486 = _e484 + 1u;
    float _e488 = w4_0_.y;
    uint _e491 = as_type<uint>(_e488 * -2.5);
    uint _e513 = as_type<uint>(as_type<float>(((_e491 & 2147483647u) > 2139095040u) ? ((_e491 | 4194304u) & 4294901760u) : (((_e491 + 32767u) + ((_e491 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    if (_e486 < _e13) {
        uint _e540 = (_e486 & 1u) << 4u;
        metal::atomic_fetch_and_explicit(&z[_e486 >> 1u], ~((65535u << _e540)), metal::memory_order_relaxed);
        metal::atomic_fetch_or_explicit(&z[_e486 >> 1u], ((((_e513 & 2147483647u) > 2139095040u) ? ((_e513 | 4194304u) & 4294901760u) : (((_e513 + 32767u) + ((_e513 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e540, metal::memory_order_relaxed);
    }
    uint _e546 = i;
    uint _e548 = _e546 + 2u;
    float _e550 = w4_0_.z;
    uint _e553 = as_type<uint>(_e550 * -2.5);
    uint _e575 = as_type<uint>(as_type<float>(((_e553 & 2147483647u) > 2139095040u) ? ((_e553 | 4194304u) & 4294901760u) : (((_e553 + 32767u) + ((_e553 >> 16u) & 1u)) & 4294901760u)) + 0.125);
    if (_e548 < _e13) {
        uint _e602 = (_e548 & 1u) << 4u;
        metal::atomic_fetch_and_explicit(&z[_e548 >> 1u], ~((65535u << _e602)), metal::memory_order_relaxed);
        metal::atomic_fetch_or_explicit(&z[_e548 >> 1u], ((((_e575 & 2147483647u) > 2139095040u) ? ((_e575 | 4194304u) & 4294901760u) : (((_e575 + 32767u) + ((_e575 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e602, metal::memory_order_relaxed);
    }
}
