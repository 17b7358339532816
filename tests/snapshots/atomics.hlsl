// vyre kernel `atomics`: entry point `atomics`
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
    uint k0_10_ = 16u;

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
        uint _e39 = k0_10_;
        bool _e40 = (_e39 == 0u);
        uint _e43 = (_e40 ? 0u : naga_mod(_e34, (_e40 ? 1u : 16u)));
        bool _e46 = (_e43 < 16u);
        if (_e46) {
            uint _e50; InterlockedAdd(hist[min(uint((_e46 ? _e43 : 0u)), 15u)], 1u, _e50);
        }
        int _e52 = sv;
        uint _e54 = params.misc_len;
        bool _e55 = (0u < _e54);
        if (_e55) {
            int _e59; misc.InterlockedMax((_e55 ? 0u : 0u)*4, _e52, _e59);
        }
        int _e61 = sv;
        uint _e63 = params.misc_len;
        bool _e64 = (1u < _e63);
        if (_e64) {
            int _e68; misc.InterlockedMin((_e64 ? 1u : 0u)*4, _e61, _e68);
        }
        uint _e71 = v;
        uint _e76 = params.misc_len;
        bool _e77 = (2u < _e76);
        if (_e77) {
            int _e81; misc.InterlockedOr((_e77 ? 2u : 0u)*4, (int(1) << (_e71 & 31u)), _e81);
        }
        uint _e84 = v;
        uint _e90 = params.misc_len;
        bool _e91 = (3u < _e90);
        if (_e91) {
            int _e95; misc.InterlockedAnd((_e91 ? 3u : 0u)*4, ~((int(1) << (_e84 & 31u))), _e95);
        }
        int _e97 = sv;
        uint _e99 = params.misc_len;
        bool _e100 = (4u < _e99);
        if (_e100) {
            int _e104; misc.InterlockedXor((_e100 ? 4u : 0u)*4, _e97, _e104);
        }
        int _e106 = sv;
        uint _e108 = params.misc_len;
        bool _e109 = (5u < _e108);
        if (_e109) {
            int _e113; misc.InterlockedAdd((_e109 ? 5u : 0u)*4, -_e106, _e113);
        }
        uint _e116 = params.misc_len;
        bool _e117 = (6u < _e116);
        int _e121; misc.InterlockedOr((_e117 ? 6u : 0u)*4, 0, _e121);
        cur = (_e117 ? _e121 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e126 = cur;
            int _e129 = cur;
            uint _e131 = params.misc_len;
            bool _e132 = (6u < _e131);
            if (_e132) {
                _atomic_compare_exchange_result_Sint_4_ _e136; misc.InterlockedCompareExchange((_e132 ? 6u : 0u)*4, _e129, asint(asuint(_e126) + asuint(int(1))), _e136.old_value);
                _e136.exchanged = (_e136.old_value == _e129);
                got = _e136.old_value;
            } else {
                got = int(0);
            }
            int _e139 = got;
            int _e140 = cur;
            if ((_e139 == _e140)) {
                break;
            }
            int _e142 = got;
            cur = _e142;
        }
        uint _e143 = i;
        uint _e145 = (_e143 + 1000000u);
        uint _e148 = params.olds_len;
        if ((_e145 < _e148)) {
            uint _e151; olds.InterlockedAdd(_e145*4, 5u, _e151);
            oob = _e151;
        } else {
            oob = 0u;
        }
        uint _e153 = i;
        uint _e154 = oob;
        uint _e158 = params.olds_len;
        if ((_e153 < _e158)) {
            { uint dummy = 0; olds.InterlockedExchange(_e153*4, (_e154 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        bool _e166 = (local_id.x < 16u);
        uint _e170; InterlockedOr(hist[min(uint((_e166 ? local_id.x : 0u)), 15u)], 0, _e170);
        h_old = (_e166 ? _e170 : 0u);
        uint _e174 = h_old;
        uint _e176 = params.bins_len;
        if ((local_id.x < _e176)) {
            uint _e179; bins.InterlockedAdd(local_id.x*4, _e174, _e179);
        }
    }
}
