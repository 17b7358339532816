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

    l = local_id.x;
    uint _e12 = l;
    uint _e15 = params.x_len;
    bool _e16 = (global_id.x < _e15);
    uint _e20 = asuint(x.Load((_e16 ? global_id.x : 0u)*4));
    tile[min(uint(_e12), 127u)] = (_e16 ? _e20 : 0u);
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    s = 64u;
    uint2 loop_bound = uint2(4294967295u, 4294967295u);
    while(true) {
        if (all(loop_bound == uint2(0u, 0u))) { break; }
        loop_bound -= uint2(loop_bound.y == 0u, 1u);
        uint _e25 = s;
        if ((_e25 > 0u)) {
        } else {
            break;
        }
        uint _e28 = l;
        uint _e29 = s;
        if ((_e28 < _e29)) {
            uint _e31 = l;
            uint _e32 = l;
            uint _e34 = tile[min(uint(_e32), 127u)];
            uint _e35 = l;
            uint _e36 = s;
            uint _e37 = (_e35 + _e36);
            bool _e39 = (_e37 < 128u);
            uint _e43 = tile[min(uint((_e39 ? _e37 : 0u)), 127u)];
            tile[min(uint(_e31), 127u)] = (_e34 + (_e39 ? _e43 : 0u));
        }
        DeviceMemoryBarrierWithGroupSync();
        GroupMemoryBarrierWithGroupSync();
        uint _e48 = s;
        uint _e52 = k0_1_;
        s = (_e48 >> (_e52 & 31u));
    }
    uint _e55 = l;
    if ((_e55 == 0u)) {
        uint _e61 = tile[0u];
        uint _e63 = params.partial_len;
        if ((workgroup_id.x < _e63)) {
            partial.Store(workgroup_id.x*4, asuint(_e61));
        }
        uint _e69 = tile[0u];
        uint _e71 = params.total_len;
        bool _e72 = (0u < _e71);
        if (_e72) {
            uint _e76; total.InterlockedAdd((_e72 ? 0u : 0u)*4, _e69, _e76);
            old = _e76;
        } else {
            old = 0u;
        }
    }
}
