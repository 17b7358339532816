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
    uint _e243 = asuint(mad(asfloat((((_e220 & 2147483647u) > 2139095040u) ? ((_e220 | 4194304u) & 4294901760u) : (((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    uint _e263 = ((((_e243 & 2147483647u) > 2139095040u) ? ((_e243 | 4194304u) & 4294901760u) : (((_e243 + 32767u) + ((_e243 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e265 = w4_0_.y;
    uint _e268 = asuint((_e265 * -2.5));
    uint _e291 = asuint(mad(asfloat((((_e268 & 2147483647u) > 2139095040u) ? ((_e268 | 4194304u) & 4294901760u) : (((_e268 + 32767u) + ((_e268 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    uint _e311 = ((((_e291 & 2147483647u) > 2139095040u) ? ((_e291 | 4194304u) & 4294901760u) : (((_e291 + 32767u) + ((_e291 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e313 = w4_0_.z;
    uint _e316 = asuint((_e313 * -2.5));
    uint _e339 = asuint(mad(asfloat((((_e316 & 2147483647u) > 2139095040u) ? ((_e316 | 4194304u) & 4294901760u) : (((_e316 + 32767u) + ((_e316 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    uint _e359 = ((((_e339 & 2147483647u) > 2139095040u) ? ((_e339 | 4194304u) & 4294901760u) : (((_e339 + 32767u) + ((_e339 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    float _e361 = w4_0_.w;
    uint _e364 = asuint((_e361 * -2.5));
    uint _e387 = asuint(mad(asfloat((((_e364 & 2147483647u) > 2139095040u) ? ((_e364 | 4194304u) & 4294901760u) : (((_e364 + 32767u) + ((_e364 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    uint _e407 = ((((_e387 & 2147483647u) > 2139095040u) ? ((_e387 | 4194304u) & 4294901760u) : (((_e387 + 32767u) + ((_e387 >> 16u) & 1u)) & 4294901760u)) >> 16u);
    uint _e408 = i;
    uint _e410 = (_e408 + 0u);
    if (((_e410 + 1u) < _e11)) {
        { uint dummy = 0; y.InterlockedExchange((_e410 >> 1u)*4, (_e263 | (_e311 << 16u)), dummy); }
    } else {
        uint _e421 = (_e410 + 0u);
        if ((_e421 < _e11)) {
            uint _e428 = ((_e421 & 1u) << 4u);
            y.InterlockedAnd((_e421 >> 1u)*4, ~((65535u << _e428)));
            y.InterlockedOr((_e421 >> 1u)*4, (_e263 << _e428));
        }
        uint _e435 = (_e410 + 1u);
        if ((_e435 < _e11)) {
            uint _e442 = ((_e435 & 1u) << 4u);
            y.InterlockedAnd((_e435 >> 1u)*4, ~((65535u << _e442)));
            y.InterlockedOr((_e435 >> 1u)*4, (_e311 << _e442));
        }
    }
    uint _e448 = i;
    uint _e450 = (_e448 + 2u);
    if (((_e450 + 1u) < _e11)) {
        { uint dummy_1 = 0; y.InterlockedExchange((_e450 >> 1u)*4, (_e359 | (_e407 << 16u)), dummy_1); }
    } else {
        uint _e461 = (_e450 + 0u);
        if ((_e461 < _e11)) {
            uint _e468 = ((_e461 & 1u) << 4u);
            y.InterlockedAnd((_e461 >> 1u)*4, ~((65535u << _e468)));
            y.InterlockedOr((_e461 >> 1u)*4, (_e359 << _e468));
        }
        uint _e475 = (_e450 + 1u);
        if ((_e475 < _e11)) {
            uint _e482 = ((_e475 & 1u) << 4u);
            y.InterlockedAnd((_e475 >> 1u)*4, ~((65535u << _e482)));
            y.InterlockedOr((_e475 >> 1u)*4, (_e407 << _e482));
        }
    }
    uint _e488 = i;
    uint _e490 = (_e488 + 1u);
    float _e492 = w4_0_.y;
    uint _e495 = asuint((_e492 * -2.5));
    uint _e518 = asuint(mad(asfloat((((_e495 & 2147483647u) > 2139095040u) ? ((_e495 | 4194304u) & 4294901760u) : (((_e495 + 32767u) + ((_e495 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    if ((_e490 < _e13)) {
        uint _e545 = ((_e490 & 1u) << 4u);
        z.InterlockedAnd((_e490 >> 1u)*4, ~((65535u << _e545)));
        z.InterlockedOr((_e490 >> 1u)*4, (((((_e518 & 2147483647u) > 2139095040u) ? ((_e518 | 4194304u) & 4294901760u) : (((_e518 + 32767u) + ((_e518 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e545));
    }
    uint _e551 = i;
    uint _e553 = (_e551 + 2u);
    float _e555 = w4_0_.z;
    uint _e558 = asuint((_e555 * -2.5));
    uint _e581 = asuint(mad(asfloat((((_e558 & 2147483647u) > 2139095040u) ? ((_e558 | 4194304u) & 4294901760u) : (((_e558 + 32767u) + ((_e558 >> 16u) & 1u)) & 4294901760u))), 1.0, 0.125));
    if ((_e553 < _e13)) {
        uint _e608 = ((_e553 & 1u) << 4u);
        z.InterlockedAnd((_e553 >> 1u)*4, ~((65535u << _e608)));
        z.InterlockedOr((_e553 >> 1u)*4, (((((_e581 & 2147483647u) > 2139095040u) ? ((_e581 | 4194304u) & 4294901760u) : (((_e581 + 32767u) + ((_e581 >> 16u) & 1u)) & 4294901760u)) >> 16u) << _e608));
    }
}
