// vyre kernel `reduce_sum`: entry point `reduce_sum`
struct reduce_sumParams {
    uint x_len;
    uint partial_len;
    uint total_len;
    int _end_pad_0;
};

ByteAddressBuffer x : register(t0);
RWByteAddressBuffer partial : register(u1);
RWByteAddressBuffer total : register(u2);
groupshared uint tile[128];
cbuffer params : register(b3) { reduce_sumParams params; }

[numthreads(128, 1, 1)]
void reduce_sum(uint3 global_id : SV_DispatchThreadID, uint3 local_id : SV_GroupThreadID, uint3 workgroup_id : SV_GroupID, uint local_invocation_index : SV_GroupIndex)
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
    l = local_id.x;
    uint _e18 = l;
    bool _e20 = (global_id.x < _e12);
    uint _e24 = asuint(x.Load((_e20 ? global_id.x : 0u)*4));
    tile[min(uint(_e18), 127u)] = (_e20 ? _e24 : 0u);
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    s = 64u;
    uint2 loop_bound = uint2(4294967295u, 4294967295u);
    while(true) {
        if (all(loop_bound == uint2(0u, 0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e29 = s;
        if ((_e29 > 0u)) {
        } else {
            break;
        }
        uint _e32 = l;
        uint _e33 = s;
        if ((_e32 < _e33)) {
            uint _e35 = l;
            uint _e36 = l;
            uint _e38 = tile[min(uint(_e36), 127u)];
            uint _e39 = l;
            uint _e40 = s;
            uint _e41 = (_e39 + _e40);
            bool _e43 = (_e41 < 128u);
            uint _e47 = tile[min(uint((_e43 ? _e41 : 0u)), 127u)];
            tile[min(uint(_e35), 127u)] = (_e38 + (_e43 ? _e47 : 0u));
        }
        DeviceMemoryBarrierWithGroupSync();
        GroupMemoryBarrierWithGroupSync();
        uint _e52 = s;
        uint _e56 = k0_1_;
        s = (_e52 >> (_e56 & 31u));
    }
    uint _e59 = l;
    if ((_e59 == 0u)) {
        uint _e65 = tile[0u];
        if ((workgroup_id.x < _e14)) {
            partial.Store(workgroup_id.x*4, asuint(_e65));
        }
        uint _e71 = tile[0u];
        bool _e72 = (0u < _e16);
        if (_e72) {
            uint _e76; total.InterlockedAdd((_e72 ? 0u : 0u)*4, _e71, _e76);
            old = _e76;
        } else {
            old = 0u;
        }
    }
}
