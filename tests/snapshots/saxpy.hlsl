// vyre kernel `saxpy`: entry point `saxpy`
struct NagaConstants {
    int first_vertex;
    int first_instance;
    uint other;
};
ConstantBuffer<NagaConstants> _NagaConstants: register(b3);

struct saxpyParams {
    float a;
    uint x_len;
    uint y_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    int _end_pad_0;
};

ByteAddressBuffer x : register(t0);
RWByteAddressBuffer y : register(u1);
cbuffer params : register(b2) { saxpyParams params; }

uint naga_mod(uint lhs, uint rhs) {
    return lhs % (rhs == 0u ? 1u : rhs);
}

uint naga_div(uint lhs, uint rhs) {
    return lhs / (rhs == 0u ? 1u : rhs);
}

[numthreads(64, 1, 1)]
void saxpy(uint3 local_id : SV_GroupThreadID, uint3 workgroup_id : SV_GroupID, uint3 num_workgroups : SV_GroupID)
{
    uint i = (uint)0;

    float _e8 = params.a;
    uint _e10 = params.x_len;
    uint _e12 = params.y_len;
    uint _e14 = params.grid_x;
    uint _e16 = params.grid_y;
    uint _e18 = params.grid_z;
    uint _e20 = params.grid_fold;
    uint _e26 = naga_div(workgroup_id.y, _e20);
    uint _e28 = ((naga_mod(workgroup_id.y, _e20) * uint3(_NagaConstants.first_vertex, _NagaConstants.first_instance, _NagaConstants.other).x) + workgroup_id.x);
    if ((_e28 >= _e14)) {
        return;
    }
    i = uint3(((_e28 * 64u) + local_id.x), ((_e26 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x;
    uint _e46 = i;
    if ((_e46 < _e12)) {
        uint _e48 = i;
        uint _e49 = i;
        bool _e50 = (_e49 < _e10);
        float _e54 = asfloat(x.Load((_e50 ? _e49 : 0u)*4));
        uint _e58 = i;
        float _e60 = asfloat(y.Load(_e58*4));
        y.Store(_e48*4, asuint(mad((_e8 * (_e50 ? _e54 : 0.0)), 1.0, _e60)));
    }
}
