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
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    char _pad7[4];
};

struct saxpyInput {
};
kernel void saxpy(
  metal::uint3 local_id [[thread_position_in_threadgroup]]
, metal::uint3 workgroup_id [[threadgroup_position_in_grid]]
, metal::uint3 num_workgroups [[threadgroups_per_grid]]
, device type_5 const& x [[buffer(0)]]
, device type_5& y [[buffer(1)]]
, constant saxpyParams& params [[buffer(2)]]
, constant _mslBufferSizes& _buffer_sizes [[buffer(3)]]
) {
    uint i = {};
    float _e8 = params.a;
    uint _e10 = params.x_len;
    uint _e12 = params.y_len;
    uint _e14 = params.grid_x;
    uint _e16 = params.grid_y;
    uint _e18 = params.grid_z;
    uint _e20 = params.grid_fold;
    uint _e26 = workgroup_id.y / _e20;
    uint _e28 = ((workgroup_id.y % _e20) * num_workgroups.x) + workgroup_id.x;
    if (_e28 >= _e14) {
        return;
    }
    i = metal::uint3((_e28 * 64u) + local_id.x, (_e26 * 1u) + local_id.y, (workgroup_id.z * 1u) + local_id.z).x;
    uint _e46 = i;
    if (_e46 < _e12) {
        uint _e48 = i;
        uint _e49 = i;
        bool _e50 = _e49 < _e10;
        float _e54 = x[_e50 ? _e49 : 0u];
        uint _e58 = i;
        float _e60 = y[_e58];
        y[_e48] = metal::fma(_e8 * (_e50 ? _e54 : 0.0), 1.0, _e60);
    }
}
