// vyre kernel `narrow_vector_bf16`: entry point `narrow_vector_bf16_`
struct NagaConstants {
    int first_vertex;
    int first_instance;
    uint other;
};
ConstantBuffer<NagaConstants> _NagaConstants: register(b4);

struct narrow_vector_bf16Params {
    uint x_len;
    uint y_len;
    uint z_len;
    uint grid_x;
    uint grid_y;
    uint grid_z;
    uint grid_fold;
    int _end_pad_0;
};

ByteAddressBuffer x : register(t0);
RWByteAddressBuffer y : register(u1);
RWByteAddressBuffer z : register(u2);
cbuffer params : register(b3) { narrow_vector_bf16Params params; }

uint naga_mod(uint lhs, uint rhs) {
    return lhs % (rhs == 0u ? 1u : rhs);
}

uint naga_div(uint lhs, uint rhs) {
    return lhs / (rhs == 0u ? 1u : rhs);
}

[numthreads(64, 1, 1)]
void narrow_vector_bf16_(uint3 local_id : SV_GroupThreadID, uint3 workgroup_id : SV_GroupID, uint3 num_workgroups : SV_GroupID)
{
    uint i = (uint)0;
    float4 w4_0_ = (float4)0;

    uint _e9 = params.x_len;
    uint _e11 = params.y_len;
    uint _e13 = params.z_len;
    uint _e15 = params.grid_x;
    uint _e17 = params.grid_y;
    uint _e19 = params.grid_z;
    uint _e21 = params.grid_fold;
    uint _e27 = naga_div(workgroup_id.y, _e21);
    uint _e29 = ((naga_mod(workgroup_id.y, _e21) * uint3(_NagaConstants.first_vertex, _NagaConstants.first_instance, _NagaConstants.other).x) + workgroup_id.x);
    if ((_e29 >= _e15)) {
        return;
    }
    i = (uint3(((_e29 * 64u) + local_id.x), ((_e27 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x * 4u);
    uint _e50 = i;
    if (((_e50 + 3u) < _e9)) {
        uint _e52 = (_e50 >> 1u);
        uint _e54 = asuint(x.Load(_e52*4));
        uint _e58 = ((_e54 >> 0u) << 16u);
        uint _e70 = ((_e54 >> 16u) << 16u);
        uint _e82 = asuint(x.Load((_e52 + 1u)*4));
        uint _e86 = ((_e82 >> 0u) << 16u);
        uint _e98 = ((_e82 >> 16u) << 16u);
        w4_0_ = float4(asfloat((((_e58 & 2147483647u) > 2139095040u) ? (_e58 | 4194304u) : _e58)), asfloat((((_e70 & 2147483647u) > 2139095040u) ? (_e70 | 4194304u) : _e70)), asfloat((((_e86 & 2147483647u) > 2139095040u) ? (_e86 | 4194304u) : _e86)), asfloat((((_e98 & 2147483647u) > 2139095040u) ? (_e98 | 4194304u) : _e98)));
    } else {
        uint _e112 = (_e50 + 0u);
        bool _e113 = (_e112 < _e9);
        uint _e115 = (_e113 ? _e112 : 0u);
        uint _e123 = asuint(x.Load((_e115 >> 1u)*4));
        uint _e126 = ((_e123 >> ((_e115 & 1u) << 4u)) << 16u);
        uint _e138 = (_e50 + 1u);
        bool _e139 = (_e138 < _e9);
        uint _e141 = (_e139 ? _e138 : 0u);
        uint _e149 = asuint(x.Load((_e141 >> 1u)*4));
        uint _e152 = ((_e149 >> ((_e141 & 1u) << 4u)) << 16u);
        uint _e164 = (_e50 + 2u);
        bool _e165 = (_e164 < _e9);
        uint _e167 = (_e165 ? _e164 : 0u);
        uint _e175 = asuint(x.Load((_e167 >> 1u)*4));
        uint _e178 = ((_e175 >> ((_e167 & 1u) << 4u)) << 16u);
        uint _e190 = (_e50 + 3u);
        bool _e191 = (_e190 < _e9);
        uint _e193 = (_e191 ? _e190 : 0u);
        uint _e201 = asuint(x.Load((_e193 >> 1u)*4));
        uint _e204 = ((_e201 >> ((_e193 & 1u) << 4u)) << 16u);
        w4_0_ = float4((_e113 ? asfloat((((_e126 & 2147483647u) > 2139095040u) ? (_e126 | 4194304u) : _e126)) : 0.0), (_e139 ? asfloat((((_e152 & 2147483647u) > 2139095040u) ? (_e152 | 4194304u) : _e152)) : 0.0), (_e165 ? asfloat((((_e178 & 2147483647u) > 2139095040u) ? (_e178 | 4194304u) : _e178)) : 0.0), (_e191 ? asfloat((((_e204 & 2147483647u) > 2139095040u) ? (_e204 | 4194304u) : _e204)) : 0.0));
    }
    float _e217 = w4_0_.x;
    uint _e220 = asuint((_e217 * -2.5));
    uint _e242 = asuint((asfloat((((_e220 & 2147483647u) > 2139095040u) ? ((_e220 | 4194304u) & 4294901760u) : (((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    uint _e262 = ((((_e242 & 2147483647u) > 2139095040u) ? ((_e242 | 4194304u) & 4294901760u) : (((_e242 + 32767u) + ((_e242 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e264 = w4_0_.y;
    uint _e267 = asuint((_e264 * -2.5));
    uint _e289 = asuint((asfloat((((_e267 & 2147483647u) > 2139095040u) ? ((_e267 | 4194304u) & 4294901760u) : (((_e267 + 32767u) + ((_e267 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    uint _e309 = ((((_e289 & 2147483647u) > 2139095040u) ? ((_e289 | 4194304u) & 4294901760u) : (((_e289 + 32767u) + ((_e289 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e311 = w4_0_.z;
    uint _e314 = asuint((_e311 * -2.5));
    uint _e336 = asuint((asfloat((((_e314 & 2147483647u) > 2139095040u) ? ((_e314 | 4194304u) & 4294901760u) : (((_e314 + 32767u) + ((_e314 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    uint _e356 = ((((_e336 & 2147483647u) > 2139095040u) ? ((_e336 | 4194304u) & 4294901760u) : (((_e336 + 32767u) + ((_e336 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e358 = w4_0_.w;
    uint _e361 = asuint((_e358 * -2.5));
    uint _e383 = asuint((asfloat((((_e361 & 2147483647u) > 2139095040u) ? ((_e361 | 4194304u) & 4294901760u) : (((_e361 + 32767u) + ((_e361 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    uint _e403 = ((((_e383 & 2147483647u) > 2139095040u) ? ((_e383 | 4194304u) & 4294901760u) : (((_e383 + 32767u) + ((_e383 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    uint _e404 = i;
    uint _e406 = (_e404 + 0u);
    if (((_e406 + 1u) < _e11)) {
        { uint dummy = 0; y.InterlockedExchange((_e406 >> 1u)*4, (_e262 | (_e309 << 16u)), dummy); }
    } else {
        uint _e417 = (_e406 + 0u);
        if ((_e417 < _e11)) {
            uint _e424 = ((_e417 & 1u) << 4u);
            y.InterlockedAnd((_e417 >> 1u)*4, ~((65535u << _e424)));
            y.InterlockedOr((_e417 >> 1u)*4, (_e262 << _e424));
        }
        uint _e431 = (_e406 + 1u);
        if ((_e431 < _e11)) {
            uint _e438 = ((_e431 & 1u) << 4u);
            y.InterlockedAnd((_e431 >> 1u)*4, ~((65535u << _e438)));
            y.InterlockedOr((_e431 >> 1u)*4, (_e309 << _e438));
        }
    }
    uint _e444 = i;
    uint _e446 = (_e444 + 2u);
    if (((_e446 + 1u) < _e11)) {
        { uint dummy_1 = 0; y.InterlockedExchange((_e446 >> 1u)*4, (_e356 | (_e403 << 16u)), dummy_1); }
    } else {
        uint _e457 = (_e446 + 0u);
        if ((_e457 < _e11)) {
            uint _e464 = ((_e457 & 1u) << 4u);
            y.InterlockedAnd((_e457 >> 1u)*4, ~((65535u << _e464)));
            y.InterlockedOr((_e457 >> 1u)*4, (_e356 << _e464));
        }
        uint _e471 = (_e446 + 1u);
        if ((_e471 < _e11)) {
            uint _e478 = ((_e471 & 1u) << 4u);
            y.InterlockedAnd((_e471 >> 1u)*4, ~((65535u << _e478)));
            y.InterlockedOr((_e471 >> 1u)*4, (_e403 << _e478));
        }
    }
    uint _e484 = i;
    uint _e486 = (_e484 + 1u);
    float _e488 = w4_0_.y;
    uint _e491 = asuint((_e488 * -2.5));
    uint _e513 = asuint((asfloat((((_e491 & 2147483647u) > 2139095040u) ? ((_e491 | 4194304u) & 4294901760u) : (((_e491 + 32767u) + ((_e491 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    if ((_e486 < _e13)) {
        uint _e540 = ((_e486 & 1u) << 4u);
        z.InterlockedAnd((_e486 >> 1u)*4, ~((65535u << _e540)));
        z.InterlockedOr((_e486 >> 1u)*4, (((((_e513 & 2147483647u) > 2139095040u) ? ((_e513 | 4194304u) & 4294901760u) : (((_e513 + 32767u) + ((_e513 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e540));
    }
    uint _e546 = i;
    uint _e548 = (_e546 + 2u);
    float _e550 = w4_0_.z;
    uint _e553 = asuint((_e550 * -2.5));
    uint _e575 = asuint((asfloat((((_e553 & 2147483647u) > 2139095040u) ? ((_e553 | 4194304u) & 4294901760u) : (((_e553 + 32767u) + ((_e553 >> 16u) & 1u)) & 4294901760u))) + 0.125));
    if ((_e548 < _e13)) {
        uint _e602 = ((_e548 & 1u) << 4u);
        z.InterlockedAnd((_e548 >> 1u)*4, ~((65535u << _e602)));
        z.InterlockedOr((_e548 >> 1u)*4, (((((_e575 & 2147483647u) > 2139095040u) ? ((_e575 | 4194304u) & 4294901760u) : (((_e575 + 32767u) + ((_e575 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e602));
    }
}
