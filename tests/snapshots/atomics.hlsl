struct atomicsParams {
    uint data_len;
    uint bins_len;
    uint misc_len;
    uint olds_len;
};

struct _atomic_compare_exchange_result_Sint_4_ {
    int old_value;
    bool exchanged;
};

ByteAddressBuffer data : register(t0);
RWByteAddressBuffer bins : register(u1);
RWByteAddressBuffer misc : register(u2);
RWByteAddressBuffer olds : register(u3);
groupshared uint hist[16];
cbuffer params : register(b4) { atomicsParams params; }

uint naga_mod(uint lhs, uint rhs) {
    return lhs % (rhs == 0u ? 1u : rhs);
}

[numthreads(64, 1, 1)]
void atomics(uint3 global_id : SV_DispatchThreadID, uint3 local_id : SV_GroupThreadID, uint local_invocation_index : SV_GroupIndex)
{
    if (local_invocation_index == 0) {
        hist = (uint[16])0;
    }
    GroupMemoryBarrierWithGroupSync();
    uint i = (uint)0;
    uint v = (uint)0;
    int sv = (int)0;
    int cur = (int)0;
    int got = (int)0;
    uint oob = (uint)0;
    uint h_old = (uint)0;

    i = global_id.x;
    uint _e16 = i;
    uint _e18 = params.data_len;
    bool _e19 = (_e16 < _e18);
    uint _e23 = asuint(data.Load((_e19 ? _e16 : 0u)*4));
    v = (_e19 ? _e23 : 0u);
    uint _e26 = v;
    sv = asint(asuint(asint(_e26)) - asuint(int(500)));
    uint _e30 = i;
    uint _e32 = params.data_len;
    if ((_e30 < _e32)) {
        uint _e34 = v;
        bool _e38 = (16u == 0u);
        uint _e41 = (_e38 ? 0u : naga_mod(_e34, (_e38 ? 1u : 16u)));
        if ((_e41 < 16u)) {
            uint _e44; InterlockedAdd(hist[min(uint(_e41), 15u)], 1u, _e44);
        }
        int _e48 = sv;
        uint _e52 = params.misc_len;
        if ((0u < _e52)) {
            int _e50; misc.InterlockedMax(0u*4, _e48, _e50);
        }
        int _e55 = sv;
        uint _e59 = params.misc_len;
        if ((1u < _e59)) {
            int _e57; misc.InterlockedMin(1u*4, _e55, _e57);
        }
        uint _e63 = v;
        uint _e70 = params.misc_len;
        if ((2u < _e70)) {
            int _e68; misc.InterlockedOr(2u*4, (int(1) << (_e63 & 31u)), _e68);
        }
        uint _e74 = v;
        uint _e82 = params.misc_len;
        if ((3u < _e82)) {
            int _e80; misc.InterlockedAnd(3u*4, ~((int(1) << (_e74 & 31u))), _e80);
        }
        int _e85 = sv;
        uint _e89 = params.misc_len;
        if ((4u < _e89)) {
            int _e87; misc.InterlockedXor(4u*4, _e85, _e87);
        }
        int _e92 = sv;
        uint _e96 = params.misc_len;
        if ((5u < _e96)) {
            int _e94; misc.InterlockedAdd(5u*4, -_e92, _e94);
        }
        uint _e100 = params.misc_len;
        bool _e101 = (6u < _e100);
        int _e105; misc.InterlockedOr((_e101 ? 6u : 0u)*4, 0, _e105);
        cur = (_e101 ? _e105 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e110 = cur;
            int _e113 = cur;
            uint _e118 = params.misc_len;
            if ((6u < _e118)) {
                _atomic_compare_exchange_result_Sint_4_ _e115; misc.InterlockedCompareExchange(6u*4, _e113, asint(asuint(_e110) + asuint(int(1))), _e115.old_value);
                _e115.exchanged = (_e115.old_value == _e113);
                got = _e115.old_value;
            } else {
                got = int(0);
            }
            int _e121 = got;
            int _e122 = cur;
            if ((_e121 == _e122)) {
                break;
            }
            int _e124 = got;
            cur = _e124;
        }
        uint _e125 = i;
        uint _e127 = (_e125 + 1000000u);
        uint _e132 = params.olds_len;
        if ((_e127 < _e132)) {
            uint _e130; olds.InterlockedAdd(_e127*4, 5u, _e130);
            oob = _e130;
        } else {
            oob = 0u;
        }
        uint _e135 = i;
        uint _e136 = oob;
        uint _e140 = params.olds_len;
        if ((_e135 < _e140)) {
            { uint dummy = 0; olds.InterlockedExchange(_e135*4, (_e136 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        bool _e148 = (local_id.x < 16u);
        uint _e152; InterlockedOr(hist[min(uint((_e148 ? local_id.x : 0u)), 15u)], 0, _e152);
        h_old = (_e148 ? _e152 : 0u);
        uint _e156 = h_old;
        uint _e160 = params.bins_len;
        if ((local_id.x < _e160)) {
            uint _e158; bins.InterlockedAdd(local_id.x*4, _e156, _e158);
        }
    }
}
