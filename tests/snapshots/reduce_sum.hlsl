// vyre kernel `reduce_sum`: entry point `reduce_sum`
struct NagaConstants {
    int first_vertex;
    int first_instance;
    uint other;
};
ConstantBuffer<NagaConstants> _NagaConstants: register(b4);

struct reduce_sumParams {
    uint x_len;
    uint partial_len;
    uint total_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    int _end_pad_0;
};

ByteAddressBuffer x : register(t0);
RWByteAddressBuffer partial : register(u1);
RWByteAddressBuffer total : register(u2);
groupshared uint tile[128];
cbuffer params : register(b3) { reduce_sumParams params; }

uint naga_mod(uint lhs, uint rhs) {
    return lhs % (rhs == 0u ? 1u : rhs);
}

uint naga_div(uint lhs, uint rhs) {
    return lhs / (rhs == 0u ? 1u : rhs);
}

[numthreads(128, 1, 1)]
void reduce_sum(uint3 local_id : SV_GroupThreadID, uint3 workgroup_id : SV_GroupID, uint3 num_workgroups : SV_GroupID, uint local_invocation_index : SV_GroupIndex)
{
    if (local_invocation_index == 0) {
        tile = (uint[128])0;
    }
    GroupMemoryBarrierWithGroupSync();
    uint l = (uint)0;
    uint s = (uint)0;
    uint old = (uint)0;
    uint k0_1_ = 1u;

    uint _e12 = params.x_len;
    uint _e14 = params.partial_len;
    uint _e16 = params.total_len;
    uint _e18 = params.grid_x;
    uint _e20 = params.grid_y;
    uint _e22 = params.grid_z;
    uint _e24 = params.grid_fold;
    uint _e30 = naga_div(workgroup_id.y, _e24);
    uint _e32 = ((naga_mod(workgroup_id.y, _e24) * uint3(_NagaConstants.first_vertex, _NagaConstants.first_instance, _NagaConstants.other).x) + workgroup_id.x);
    if ((_e32 >= _e18)) {
        return;
    }
    l = local_id.x;
    uint _e50 = l;
    bool _e52 = (uint3(((_e32 * 128u) + local_id.x), ((_e30 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x < _e12);
    uint _e56 = asuint(x.Load((_e52 ? uint3(((_e32 * 128u) + local_id.x), ((_e30 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x : 0u)*4));
    tile[min(uint(_e50), 127u)] = (_e52 ? _e56 : 0u);
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    s = 64u;
    uint2 loop_bound = uint2(4294967295u, 4294967295u);
    while(true) {
        if (all(loop_bound == uint2(0u, 0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e61 = s;
        if ((_e61 > 0u)) {
        } else {
            break;
        }
        uint _e64 = l;
        uint _e65 = s;
        if ((_e64 < _e65)) {
            uint _e67 = l;
            uint _e68 = l;
            uint _e70 = tile[min(uint(_e68), 127u)];
            uint _e71 = l;
            uint _e72 = s;
            uint _e73 = (_e71 + _e72);
            bool _e75 = (_e73 < 128u);
            uint _e79 = tile[min(uint((_e75 ? _e73 : 0u)), 127u)];
            tile[min(uint(_e67), 127u)] = (_e70 + (_e75 ? _e79 : 0u));
        }
        DeviceMemoryBarrierWithGroupSync();
        GroupMemoryBarrierWithGroupSync();
        uint _e84 = s;
        uint _e88 = k0_1_;
        s = (_e84 >> (_e88 & 31u));
    }
    uint _e91 = l;
    if ((_e91 == 0u)) {
        uint _e97 = tile[0u];
        if ((uint3(_e32, _e30, workgroup_id.z).x < _e14)) {
            partial.Store(uint3(_e32, _e30, workgroup_id.z).x*4, asuint(_e97));
        }
        uint _e103 = tile[0u];
        bool _e104 = (0u < _e16);
        if (_e104) {
            uint _e108; total.InterlockedAdd((_e104 ? 0u : 0u)*4, _e103, _e108);
            old = _e108;
        } else {
            old = 0u;
        }
    }
}
