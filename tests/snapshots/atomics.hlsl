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

    uint _e16 = params.data_len;
    uint _e18 = params.bins_len;
    uint _e20 = params.misc_len;
    uint _e22 = params.olds_len;
    i = global_id.x;
    uint _e24 = i;
    bool _e25 = (_e24 < _e16);
    uint _e29 = asuint(data.Load((_e25 ? _e24 : 0u)*4));
    v = (_e25 ? _e29 : 0u);
    uint _e32 = v;
    sv = asint(asuint(asint(_e32)) - asuint(int(500)));
    uint _e36 = i;
    if ((_e36 < _e16)) {
        uint _e38 = v;
        uint _e43 = k0_10_;
        bool _e44 = (_e43 == 0u);
        uint _e47 = (_e44 ? 0u : naga_mod(_e38, (_e44 ? 1u : 16u)));
        bool _e50 = (_e47 < 16u);
        if (_e50) {
            uint _e54; InterlockedAdd(hist[min(uint((_e50 ? _e47 : 0u)), 15u)], 1u, _e54);
        }
        int _e56 = sv;
        bool _e57 = (0u < _e20);
        if (_e57) {
            int _e61; misc.InterlockedMax((_e57 ? 0u : 0u)*4, _e56, _e61);
        }
        int _e63 = sv;
        bool _e64 = (1u < _e20);
        if (_e64) {
            int _e68; misc.InterlockedMin((_e64 ? 1u : 0u)*4, _e63, _e68);
        }
        uint _e71 = v;
        bool _e75 = (2u < _e20);
        if (_e75) {
            int _e79; misc.InterlockedOr((_e75 ? 2u : 0u)*4, (int(1) << (_e71 & 31u)), _e79);
        }
        uint _e82 = v;
        bool _e87 = (3u < _e20);
        if (_e87) {
            int _e91; misc.InterlockedAnd((_e87 ? 3u : 0u)*4, ~((int(1) << (_e82 & 31u))), _e91);
        }
        int _e93 = sv;
        bool _e94 = (4u < _e20);
        if (_e94) {
            int _e98; misc.InterlockedXor((_e94 ? 4u : 0u)*4, _e93, _e98);
        }
        int _e100 = sv;
        bool _e101 = (5u < _e20);
        if (_e101) {
            int _e105; misc.InterlockedAdd((_e101 ? 5u : 0u)*4, -_e100, _e105);
        }
        bool _e107 = (6u < _e20);
        int _e111; misc.InterlockedOr((_e107 ? 6u : 0u)*4, 0, _e111);
        cur = (_e107 ? _e111 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e116 = cur;
            int _e119 = cur;
            bool _e120 = (6u < _e20);
            if (_e120) {
                _atomic_compare_exchange_result_Sint_4_ _e124; misc.InterlockedCompareExchange((_e120 ? 6u : 0u)*4, _e119, asint(asuint(_e116) + asuint(int(1))), _e124.old_value);
                _e124.exchanged = (_e124.old_value == _e119);
                got = _e124.old_value;
            } else {
                got = int(0);
            }
            int _e127 = got;
            int _e128 = cur;
            if ((_e127 == _e128)) {
                break;
            }
            int _e130 = got;
            cur = _e130;
        }
        uint _e131 = i;
        uint _e133 = (_e131 + 1000000u);
        if ((_e133 < _e22)) {
            uint _e137; olds.InterlockedAdd(_e133*4, 5u, _e137);
            oob = _e137;
        } else {
            oob = 0u;
        }
        uint _e139 = i;
        uint _e140 = oob;
        if ((_e139 < _e22)) {
            { uint dummy = 0; olds.InterlockedExchange(_e139*4, (_e140 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        bool _e150 = (local_id.x < 16u);
        uint _e154; InterlockedOr(hist[min(uint((_e150 ? local_id.x : 0u)), 15u)], 0, _e154);
        h_old = (_e150 ? _e154 : 0u);
        uint _e158 = h_old;
        if ((local_id.x < _e18)) {
            uint _e161; bins.InterlockedAdd(local_id.x*4, _e158, _e161);
        }
    }
}
