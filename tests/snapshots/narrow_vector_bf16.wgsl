struct narrow_vector_bf16Params {
    x_len: u32,
    y_len: u32,
    z_len: u32,
    grid_x: u32,
    grid_y: u32,
    grid_z: u32,
    grid_fold: u32,
}

@group(0) @binding(0) 
var<storage> x: array<u32>;
@group(0) @binding(1) 
var<storage, read_write> y: array<atomic<u32>>;
@group(0) @binding(2) 
var<storage, read_write> z: array<atomic<u32>>;
@group(0) @binding(3) 
var<uniform> params: narrow_vector_bf16Params;

@compute @workgroup_size(64, 1, 1) 
fn narrow_vector_bf16_(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) workgroup_id: vec3<u32>, @builtin(num_workgroups) num_workgroups: vec3<u32>) {
    var i: u32;
    var w4_0_: vec4<f32>;

    let _e9 = params.x_len;
    let _e11 = params.y_len;
    let _e13 = params.z_len;
    let _e15 = params.grid_x;
    let _e17 = params.grid_y;
    let _e19 = params.grid_z;
    let _e21 = params.grid_fold;
    let _e27 = (workgroup_id.y / _e21);
    let _e29 = (((workgroup_id.y % _e21) * num_workgroups.x) + workgroup_id.x);
    if (_e29 >= _e15) {
        return;
    }
    i = (vec3<u32>(((_e29 * 64u) + local_id.x), ((_e27 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x * 4u);
    let _e50 = i;
    if ((_e50 + 3u) < _e9) {
        let _e52 = (_e50 >> 1u);
        let _e54 = x[_e52];
        let _e58 = ((_e54 >> 0u) << 16u);
        let _e70 = ((_e54 >> 16u) << 16u);
        let _e82 = x[(_e52 + 1u)];
        let _e86 = ((_e82 >> 0u) << 16u);
        let _e98 = ((_e82 >> 16u) << 16u);
        w4_0_ = vec4<f32>(bitcast<f32>(select(_e58, (_e58 | 4194304u), ((_e58 & 2147483647u) > 2139095040u))), bitcast<f32>(select(_e70, (_e70 | 4194304u), ((_e70 & 2147483647u) > 2139095040u))), bitcast<f32>(select(_e86, (_e86 | 4194304u), ((_e86 & 2147483647u) > 2139095040u))), bitcast<f32>(select(_e98, (_e98 | 4194304u), ((_e98 & 2147483647u) > 2139095040u))));
    } else {
        let _e112 = (_e50 + 0u);
        let _e113 = (_e112 < _e9);
        let _e115 = select(0u, _e112, _e113);
        let _e123 = x[(_e115 >> 1u)];
        let _e126 = ((_e123 >> ((_e115 & 1u) << 4u)) << 16u);
        let _e138 = (_e50 + 1u);
        let _e139 = (_e138 < _e9);
        let _e141 = select(0u, _e138, _e139);
        let _e149 = x[(_e141 >> 1u)];
        let _e152 = ((_e149 >> ((_e141 & 1u) << 4u)) << 16u);
        let _e164 = (_e50 + 2u);
        let _e165 = (_e164 < _e9);
        let _e167 = select(0u, _e164, _e165);
        let _e175 = x[(_e167 >> 1u)];
        let _e178 = ((_e175 >> ((_e167 & 1u) << 4u)) << 16u);
        let _e190 = (_e50 + 3u);
        let _e191 = (_e190 < _e9);
        let _e193 = select(0u, _e190, _e191);
        let _e201 = x[(_e193 >> 1u)];
        let _e204 = ((_e201 >> ((_e193 & 1u) << 4u)) << 16u);
        w4_0_ = vec4<f32>(select(0f, bitcast<f32>(select(_e126, (_e126 | 4194304u), ((_e126 & 2147483647u) > 2139095040u))), _e113), select(0f, bitcast<f32>(select(_e152, (_e152 | 4194304u), ((_e152 & 2147483647u) > 2139095040u))), _e139), select(0f, bitcast<f32>(select(_e178, (_e178 | 4194304u), ((_e178 & 2147483647u) > 2139095040u))), _e165), select(0f, bitcast<f32>(select(_e204, (_e204 | 4194304u), ((_e204 & 2147483647u) > 2139095040u))), _e191));
    }
    let _e217 = w4_0_.x;
    let _e220 = bitcast<u32>((_e217 * -2.5f));
    let _e242 = bitcast<u32>((bitcast<f32>(select((((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u), ((_e220 | 4194304u) & 4294901760u), ((_e220 & 2147483647u) > 2139095040u))) + 0.125f));
    let _e262 = (select((((_e242 + 32767u) + ((_e242 >> 16u) & 1u)) & 4294901760u), ((_e242 | 4194304u) & 4294901760u), ((_e242 & 2147483647u) > 2139095040u)) >> 16u);
    let _e264 = w4_0_.y;
    let _e267 = bitcast<u32>((_e264 * -2.5f));
    let _e289 = bitcast<u32>((bitcast<f32>(select((((_e267 + 32767u) + ((_e267 >> 16u) & 1u)) & 4294901760u), ((_e267 | 4194304u) & 4294901760u), ((_e267 & 2147483647u) > 2139095040u))) + 0.125f));
    let _e309 = (select((((_e289 + 32767u) + ((_e289 >> 16u) & 1u)) & 4294901760u), ((_e289 | 4194304u) & 4294901760u), ((_e289 & 2147483647u) > 2139095040u)) >> 16u);
    let _e311 = w4_0_.z;
    let _e314 = bitcast<u32>((_e311 * -2.5f));
    let _e336 = bitcast<u32>((bitcast<f32>(select((((_e314 + 32767u) + ((_e314 >> 16u) & 1u)) & 4294901760u), ((_e314 | 4194304u) & 4294901760u), ((_e314 & 2147483647u) > 2139095040u))) + 0.125f));
    let _e356 = (select((((_e336 + 32767u) + ((_e336 >> 16u) & 1u)) & 4294901760u), ((_e336 | 4194304u) & 4294901760u), ((_e336 & 2147483647u) > 2139095040u)) >> 16u);
    let _e358 = w4_0_.w;
    let _e361 = bitcast<u32>((_e358 * -2.5f));
    let _e383 = bitcast<u32>((bitcast<f32>(select((((_e361 + 32767u) + ((_e361 >> 16u) & 1u)) & 4294901760u), ((_e361 | 4194304u) & 4294901760u), ((_e361 & 2147483647u) > 2139095040u))) + 0.125f));
    let _e403 = (select((((_e383 + 32767u) + ((_e383 >> 16u) & 1u)) & 4294901760u), ((_e383 | 4194304u) & 4294901760u), ((_e383 & 2147483647u) > 2139095040u)) >> 16u);
    let _e404 = i;
    let _e406 = (_e404 + 0u);
    if ((_e406 + 1u) < _e11) {
        atomicStore((&y[(_e406 >> 1u)]), (_e262 | (_e309 << 16u)));
    } else {
        let _e417 = (_e406 + 0u);
        if (_e417 < _e11) {
            let _e424 = ((_e417 & 1u) << 4u);
            atomicAnd((&y[(_e417 >> 1u)]), ~((65535u << _e424)));
            atomicOr((&y[(_e417 >> 1u)]), (_e262 << _e424));
        }
        let _e431 = (_e406 + 1u);
        if (_e431 < _e11) {
            let _e438 = ((_e431 & 1u) << 4u);
            atomicAnd((&y[(_e431 >> 1u)]), ~((65535u << _e438)));
            atomicOr((&y[(_e431 >> 1u)]), (_e309 << _e438));
        }
    }
    let _e444 = i;
    let _e446 = (_e444 + 2u);
    if ((_e446 + 1u) < _e11) {
        atomicStore((&y[(_e446 >> 1u)]), (_e356 | (_e403 << 16u)));
    } else {
        let _e457 = (_e446 + 0u);
        if (_e457 < _e11) {
            let _e464 = ((_e457 & 1u) << 4u);
            atomicAnd((&y[(_e457 >> 1u)]), ~((65535u << _e464)));
            atomicOr((&y[(_e457 >> 1u)]), (_e356 << _e464));
        }
        let _e471 = (_e446 + 1u);
        if (_e471 < _e11) {
            let _e478 = ((_e471 & 1u) << 4u);
            atomicAnd((&y[(_e471 >> 1u)]), ~((65535u << _e478)));
            atomicOr((&y[(_e471 >> 1u)]), (_e403 << _e478));
        }
    }
    let _e484 = i;
    let _e486 = (_e484 + 1u);
    let _e488 = w4_0_.y;
    let _e491 = bitcast<u32>((_e488 * -2.5f));
    let _e513 = bitcast<u32>((bitcast<f32>(select((((_e491 + 32767u) + ((_e491 >> 16u) & 1u)) & 4294901760u), ((_e491 | 4194304u) & 4294901760u), ((_e491 & 2147483647u) > 2139095040u))) + 0.125f));
    if (_e486 < _e13) {
        let _e540 = ((_e486 & 1u) << 4u);
        atomicAnd((&z[(_e486 >> 1u)]), ~((65535u << _e540)));
        atomicOr((&z[(_e486 >> 1u)]), ((select((((_e513 + 32767u) + ((_e513 >> 16u) & 1u)) & 4294901760u), ((_e513 | 4194304u) & 4294901760u), ((_e513 & 2147483647u) > 2139095040u)) >> 16u) << _e540));
    }
    let _e546 = i;
    let _e548 = (_e546 + 2u);
    let _e550 = w4_0_.z;
    let _e553 = bitcast<u32>((_e550 * -2.5f));
    let _e575 = bitcast<u32>((bitcast<f32>(select((((_e553 + 32767u) + ((_e553 >> 16u) & 1u)) & 4294901760u), ((_e553 | 4194304u) & 4294901760u), ((_e553 & 2147483647u) > 2139095040u))) + 0.125f));
    if (_e548 < _e13) {
        let _e602 = ((_e548 & 1u) << 4u);
        atomicAnd((&z[(_e548 >> 1u)]), ~((65535u << _e602)));
        atomicOr((&z[(_e548 >> 1u)]), ((select((((_e575 + 32767u) + ((_e575 >> 16u) & 1u)) & 4294901760u), ((_e575 | 4194304u) & 4294901760u), ((_e575 & 2147483647u) > 2139095040u)) >> 16u) << _e602));
    }
}
