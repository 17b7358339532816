// vyre kernel `saxpy`: entry point `saxpy`
// language: metal2.0
#include <metal_stdlib>
#include <simd/simd.h>

using metal::uint;

struct _mslBufferSizes {
    uint size0;
    uint size1;
};

typedef float type_5[1];
struct saxpyParams {
    float a;
    uint x_len;
    uint y_len;
    char _pad3[4];
};

struct saxpyInput {
};
kernel void saxpy(
  metal::uint3 global_id [[thread_position_in_grid]]
, device type_5 const& x [[buffer(0)]]
, device type_5& y [[buffer(1)]]
, constant saxpyParams& params [[buffer(2)]]
, constant _mslBufferSizes& _buffer_sizes [[buffer(3)]]
) {
    uint i = {};
    float _e6 = params.a;
    uint _e8 = params.x_len;
    uint _e10 = params.y_len;
    i = global_id.x;
    uint _e12 = i;
    if (_e12 < _e10) {
        uint _e14 = i;
        uint _e15 = i;
        bool _e16 = _e15 < _e8;
        float _e20 = x[_e16 ? _e15 : 0u];
        uint _e24 = i;
        float _e26 = y[_e24];
        y[_e14] = (_e6 * (_e16 ? _e20 : 0.0)) + _e26;
    }
}
