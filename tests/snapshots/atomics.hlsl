// vyre kernel `atomics`: entry point `atomics`
struct NagaConstants {
    int first_vertex;
    int first_instance;
    uint other;
};
ConstantBuffer<NagaConstants> _NagaConstants: register(b5);

struct atomicsParams {
    uint data_len;
    uint bins_len;
    uint misc_len;
    uint olds_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
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

uint naga_div(uint lhs, uint rhs) {
    return lhs / (rhs == 0u ? 1u : rhs);
}

[numthreads(64, 1, 1)]
void atomics(uint3 local_id : SV_GroupThreadID, uint3 workgroup_id : SV_GroupID, uint3 num_workgroups : SV_GroupID, uint local_invocation_index : SV_GroupIndex)
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

    uint _e17 = params.data_len;
    uint _e19 = params.bins_len;
    uint _e21 = params.misc_len;
    uint _e23 = params.olds_len;
    uint _e25 = params.grid_x;
    uint _e27 = params.grid_y;
    uint _e29 = params.grid_z;
    uint _e31 = params.grid_fold;
    uint _e37 = naga_div(workgroup_id.y, _e31);
    uint _e39 = ((naga_mod(workgroup_id.y, _e31) * uint3(_NagaConstants.first_vertex, _NagaConstants.first_instance, _NagaConstants.other).x) + workgroup_id.x);
    if ((_e39 >= _e25)) {
        return;
    }
    i = uint3(((_e39 * 64u) + local_id.x), ((_e37 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x;
    uint _e57 = i;
    bool _e58 = (_e57 < _e17);
    uint _e62 = asuint(data.Load((_e58 ? _e57 : 0u)*4));
    v = (_e58 ? _e62 : 0u);
    uint _e65 = v;
    sv = asint(asuint(asint(_e65)) - asuint(int(500)));
    uint _e69 = i;
    if ((_e69 < _e17)) {
        uint _e71 = v;
        uint _e76; InterlockedAdd(hist[min(uint(naga_mod(_e71, 16u)), 15u)], 1u, _e76);
        int _e78 = sv;
        bool _e79 = (0u < _e21);
        if (_e79) {
            int _e83; misc.InterlockedMax((_e79 ? 0u : 0u)*4, _e78, _e83);
        }
        int _e85 = sv;
        bool _e86 = (1u < _e21);
        if (_e86) {
            int _e90; misc.InterlockedMin((_e86 ? 1u : 0u)*4, _e85, _e90);
        }
        uint _e93 = v;
        bool _e97 = (2u < _e21);
        if (_e97) {
            int _e101; misc.InterlockedOr((_e97 ? 2u : 0u)*4, (int(1) << (_e93 & 31u)), _e101);
        }
        uint _e104 = v;
        bool _e109 = (3u < _e21);
        if (_e109) {
            int _e113; misc.InterlockedAnd((_e109 ? 3u : 0u)*4, ~((int(1) << (_e104 & 31u))), _e113);
        }
        int _e115 = sv;
        bool _e116 = (4u < _e21);
        if (_e116) {
            int _e120; misc.InterlockedXor((_e116 ? 4u : 0u)*4, _e115, _e120);
        }
        int _e122 = sv;
        bool _e123 = (5u < _e21);
        if (_e123) {
            int _e127; misc.InterlockedAdd((_e123 ? 5u : 0u)*4, -_e122, _e127);
        }
        bool _e129 = (6u < _e21);
        int _e133; misc.InterlockedOr((_e129 ? 6u : 0u)*4, 0, _e133);
        cur = (_e129 ? _e133 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e138 = cur;
            int _e141 = cur;
            bool _e142 = (6u < _e21);
            if (_e142) {
                _atomic_compare_exchange_result_Sint_4_ _e146; misc.InterlockedCompareExchange((_e142 ? 6u : 0u)*4, _e141, asint(asuint(_e138) + asuint(int(1))), _e146.old_value);
                _e146.exchanged = (_e146.old_value == _e141);
                got = _e146.old_value;
            } else {
                got = int(0);
            }
            int _e149 = got;
            int _e150 = cur;
            if ((_e149 == _e150)) {
                break;
            }
            int _e152 = got;
            cur = _e152;
        }
        uint _e153 = i;
        uint _e155 = (_e153 + 1000000u);
        if ((_e155 < _e23)) {
            uint _e159; olds.InterlockedAdd(_e155*4, 5u, _e159);
            oob = _e159;
        } else {
            oob = 0u;
        }
        uint _e161 = i;
        uint _e162 = oob;
        if ((_e161 < _e23)) {
            { uint dummy = 0; olds.InterlockedExchange(_e161*4, (_e162 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        uint _e172; InterlockedOr(hist[min(uint(local_id.x), 15u)], 0, _e172);
        h_old = _e172;
        uint _e174 = h_old;
        if ((local_id.x < _e19)) {
            uint _e177; bins.InterlockedAdd(local_id.x*4, _e174, _e177);
        }
    }
}
