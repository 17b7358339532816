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
        uint _e73 = naga_mod(_e71, 16u);
        bool _e76 = (_e73 < 16u);
        if (_e76) {
            uint _e80; InterlockedAdd(hist[min(uint((_e76 ? _e73 : 0u)), 15u)], 1u, _e80);
        }
        int _e82 = sv;
        bool _e83 = (0u < _e21);
        if (_e83) {
            int _e87; misc.InterlockedMax((_e83 ? 0u : 0u)*4, _e82, _e87);
        }
        int _e89 = sv;
        bool _e90 = (1u < _e21);
        if (_e90) {
            int _e94; misc.InterlockedMin((_e90 ? 1u : 0u)*4, _e89, _e94);
        }
        uint _e97 = v;
        bool _e101 = (2u < _e21);
        if (_e101) {
            int _e105; misc.InterlockedOr((_e101 ? 2u : 0u)*4, (int(1) << (_e97 & 31u)), _e105);
        }
        uint _e108 = v;
        bool _e113 = (3u < _e21);
        if (_e113) {
            int _e117; misc.InterlockedAnd((_e113 ? 3u : 0u)*4, ~((int(1) << (_e108 & 31u))), _e117);
        }
        int _e119 = sv;
        bool _e120 = (4u < _e21);
        if (_e120) {
            int _e124; misc.InterlockedXor((_e120 ? 4u : 0u)*4, _e119, _e124);
        }
        int _e126 = sv;
        bool _e127 = (5u < _e21);
        if (_e127) {
            int _e131; misc.InterlockedAdd((_e127 ? 5u : 0u)*4, -_e126, _e131);
        }
        bool _e133 = (6u < _e21);
        int _e137; misc.InterlockedOr((_e133 ? 6u : 0u)*4, 0, _e137);
        cur = (_e133 ? _e137 : int(0));
        got = int(0);
        uint2 loop_bound = uint2(4294967295u, 4294967295u);
        while(true) {
            if (all(loop_bound == uint2(0u, 0u))) { break; }
            loop_bound -= uint2(loop_bound.y == 0u, 1u);
            int _e142 = cur;
            int _e145 = cur;
            bool _e146 = (6u < _e21);
            if (_e146) {
                _atomic_compare_exchange_result_Sint_4_ _e150; misc.InterlockedCompareExchange((_e146 ? 6u : 0u)*4, _e145, asint(asuint(_e142) + asuint(int(1))), _e150.old_value);
                _e150.exchanged = (_e150.old_value == _e145);
                got = _e150.old_value;
            } else {
                got = int(0);
            }
            int _e153 = got;
            int _e154 = cur;
            if ((_e153 == _e154)) {
                break;
            }
            int _e156 = got;
            cur = _e156;
        }
        uint _e157 = i;
        uint _e159 = (_e157 + 1000000u);
        if ((_e159 < _e23)) {
            uint _e163; olds.InterlockedAdd(_e159*4, 5u, _e163);
            oob = _e163;
        } else {
            oob = 0u;
        }
        uint _e165 = i;
        uint _e166 = oob;
        if ((_e165 < _e23)) {
            { uint dummy = 0; olds.InterlockedExchange(_e165*4, (_e166 + 7u), dummy); }
        }
    }
    DeviceMemoryBarrierWithGroupSync();
    GroupMemoryBarrierWithGroupSync();
    if ((local_id.x < 16u)) {
        bool _e176 = (local_id.x < 16u);
        uint _e180; InterlockedOr(hist[min(uint((_e176 ? local_id.x : 0u)), 15u)], 0, _e180);
        h_old = (_e176 ? _e180 : 0u);
        uint _e184 = h_old;
        if ((local_id.x < _e19)) {
            uint _e187; bins.InterlockedAdd(local_id.x*4, _e184, _e187);
        }
    }
}
