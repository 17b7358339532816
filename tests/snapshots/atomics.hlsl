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
    uint k0_10_ = 16u;

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
        uint _e76 = k0_10_;
        bool _e77 = (_e76 == 0u);
        uint _e80 = (_e77 ? 0u : naga_mod(_e71, (_e77 ? 1u : 16u)));
        bool _e83 = (_e80 < 16u);
        if (_e83) {
            uint _e87; InterlockedAdd(hist[min(uint((_e83 ? _e80 : 0u)), 15u)], 1u, _e87);
        }
        int _e89 = sv;
        bool _e90 = (0u < _e21);
        if (_e90) {
            int _e94; misc.InterlockedMax((_e90 ? 0u : 0u)*4, _e89, _e94);
        }
        int _e96 = sv;
        bool _e97 = (1u < _e21);
        if (_e97) {
            int _e101; misc.InterlockedMin((_e97 ? 1u : 0u)*4, _e96, _e101);
        }
        uint _e104 = v;
        bool _e108 = (2u < _e21);
        if (_e108) {
            int _e112; misc.InterlockedOr((_e108 ? 2u : 0u)*4, (int(1) << (_e104 & 31u)), _e112);
        }
        uint _e115 = v;
        bool _e120 = (3u < _e21);
        if (_e120) {
            int _e124; misc.InterlockedAnd((_e120 ? 3u : 0u)*4, ~((int(1) << (_e115 & 31u))), _e124);
        }
        int _e126 = sv;
        bool _e127 = (4u < _e21);
        if (_e127) {
            int _e131; misc.InterlockedXor((_e127 ? 4u : 0u)*4, _e126, _e131);
        }
        int _e133 = sv;
        bool _e134 = (5u < _e21);
        if (_e134) {
            int _e138; misc.InterlockedAdd((_e134 ? 5u : 0u)*4, -_e133, _e138);
        }
        bool _e140 = (6u < _e21);
        int _e144; misc.InterlockedOr((_e140 ? 6u : 0u)*4, 0, _e144);
        cur = (_e140 ? _e144 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e149 = cur;
            int _e152 = cur;
            bool _e153 = (6u < _e21);
            if (_e153) {
                _atomic_compare_exchange_result_Sint_4_ _e157; misc.InterlockedCompareExchange((_e153 ? 6u : 0u)*4, _e152, asint(asuint(_e149) + asuint(int(1))), _e157.old_value);
                _e157.exchanged = (_e157.old_value == _e152);
                got = _e157.old_value;
            } else {
                got = int(0);
            }
            int _e160 = got;
            int _e161 = cur;
            if ((_e160 == _e161)) {
                break;
            }
            int _e163 = got;
            cur = _e163;
        }
        uint _e164 = i;
        uint _e166 = (_e164 + 1000000u);
        if ((_e166 < _e23)) {
            uint _e170; olds.InterlockedAdd(_e166*4, 5u, _e170);
            oob = _e170;
        } else {
            oob = 0u;
        }
        uint _e172 = i;
        uint _e173 = oob;
        if ((_e172 < _e23)) {
            { uint dummy = 0; olds.InterlockedExchange(_e172*4, (_e173 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        bool _e183 = (local_id.x < 16u);
        uint _e187; InterlockedOr(hist[min(uint((_e183 ? local_id.x : 0u)), 15u)], 0, _e187);
        h_old = (_e183 ? _e187 : 0u);
        uint _e191 = h_old;
        if ((local_id.x < _e19)) {
            uint _e194; bins.InterlockedAdd(local_id.x*4, _e191, _e194);
        }
    }
}
