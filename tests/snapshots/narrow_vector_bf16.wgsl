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
    let _e243 = bitcast<u32>(fma(bitcast<f32>(select((((_e220 + 32767u) + ((_e220 >> 16u) & 1u)) & 4294901760u), ((_e220 | 4194304u) & 4294901760u), ((_e220 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    let _e263 = (select((((_e243 + 32767u) + ((_e243 >> 16u) & 1u)) & 4294901760u), ((_e243 | 4194304u) & 4294901760u), ((_e243 & 2147483647u) > 2139095040u)) >> 16u);
    let _e265 = w4_0_.y;
    let _e268 = bitcast<u32>((_e265 * -2.5f));
    let _e291 = bitcast<u32>(fma(bitcast<f32>(select((((_e268 + 32767u) + ((_e268 >> 16u) & 1u)) & 4294901760u), ((_e268 | 4194304u) & 4294901760u), ((_e268 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    let _e311 = (select((((_e291 + 32767u) + ((_e291 >> 16u) & 1u)) & 4294901760u), ((_e291 | 4194304u) & 4294901760u), ((_e291 & 2147483647u) > 2139095040u)) >> 16u);
    let _e313 = w4_0_.z;
    let _e316 = bitcast<u32>((_e313 * -2.5f));
    let _e339 = bitcast<u32>(fma(bitcast<f32>(select((((_e316 + 32767u) + ((_e316 >> 16u) & 1u)) & 4294901760u), ((_e316 | 4194304u) & 4294901760u), ((_e316 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    let _e359 = (select((((_e339 + 32767u) + ((_e339 >> 16u) & 1u)) & 4294901760u), ((_e339 | 4194304u) & 4294901760u), ((_e339 & 2147483647u) > 2139095040u)) >> 16u);
    let _e361 = w4_0_.w;
    let _e364 = bitcast<u32>((_e361 * -2.5f));
    let _e387 = bitcast<u32>(fma(bitcast<f32>(select((((_e364 + 32767u) + ((_e364 >> 16u) & 1u)) & 4294901760u), ((_e364 | 4194304u) & 4294901760u), ((_e364 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    let _e407 = (select((((_e387 + 32767u) + ((_e387 >> 16u) & 1u)) & 4294901760u), ((_e387 | 4194304u) & 4294901760u), ((_e387 & 2147483647u) > 2139095040u)) >> 16u);
    let _e408 = i;
    let _e410 = (_e408 + 0u);
    if ((_e410 + 1u) < _e11) {
        atomicStore((&y[(_e410 >> 1u)]), (_e263 | (_e311 << 16u)));
    } else {
        let _e421 = (_e410 + 0u);
        if (_e421 < _e11) {
            let _e428 = ((_e421 & 1u) << 4u);
            atomicAnd((&y[(_e421 >> 1u)]), ~((65535u << _e428)));
            atomicOr((&y[(_e421 >> 1u)]), (_e263 << _e428));
        }
        let _e435 = (_e410 + 1u);
        if (_e435 < _e11) {
            let _e442 = ((_e435 & 1u) << 4u);
            atomicAnd((&y[(_e435 >> 1u)]), ~((65535u << _e442)));
            atomicOr((&y[(_e435 >> 1u)]), (_e311 << _e442));
        }
    }
    let _e448 = i;
    let _e450 = (_e448 + 2u);
    if ((_e450 + 1u) < _e11) {
        atomicStore((&y[(_e450 >> 1u)]), (_e359 | (_e407 << 16u)));
    } else {
        let _e461 = (_e450 + 0u);
        if (_e461 < _e11) {
            let _e468 = ((_e461 & 1u) << 4u);
            atomicAnd((&y[(_e461 >> 1u)]), ~((65535u << _e468)));
            atomicOr((&y[(_e461 >> 1u)]), (_e359 << _e468));
        }
        let _e475 = (_e450 + 1u);
        if (_e475 < _e11) {
            let _e482 = ((_e475 & 1u) << 4u);
            atomicAnd((&y[(_e475 >> 1u)]), ~((65535u << _e482)));
            atomicOr((&y[(_e475 >> 1u)]), (_e407 << _e482));
        }
    }
    let _e488 = i;
    let _e490 = (_e488 + 1u);
    let _e492 = w4_0_.y;
    let _e495 = bitcast<u32>((_e492 * -2.5f));
    let _e518 = bitcast<u32>(fma(bitcast<f32>(select((((_e495 + 32767u) + ((_e495 >> 16u) & 1u)) & 4294901760u), ((_e495 | 4194304u) & 4294901760u), ((_e495 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    if (_e490 < _e13) {
        let _e545 = ((_e490 & 1u) << 4u);
        atomicAnd((&z[(_e490 >> 1u)]), ~((65535u << _e545)));
        atomicOr((&z[(_e490 >> 1u)]), ((select((((_e518 + 32767u) + ((_e518 >> 16u) & 1u)) & 4294901760u), ((_e518 | 4194304u) & 4294901760u), ((_e518 & 2147483647u) > 2139095040u)) >> 16u) << _e545));
    }
    let _e551 = i;
    let _e553 = (_e551 + 2u);
    let _e555 = w4_0_.z;
    let _e558 = bitcast<u32>((_e555 * -2.5f));
    let _e581 = bitcast<u32>(fma(bitcast<f32>(select((((_e558 + 32767u) + ((_e558 >> 16u) & 1u)) & 4294901760u), ((_e558 | 4194304u) & 4294901760u), ((_e558 & 2147483647u) > 2139095040u))), 1f, 0.125f));
    if (_e553 < _e13) {
        let _e608 = ((_e553 & 1u) << 4u);
        atomicAnd((&z[(_e553 >> 1u)]), ~((65535u << _e608)));
        atomicOr((&z[(_e553 >> 1u)]), ((select((((_e581 + 32767u) + ((_e581 >> 16u) & 1u)) & 4294901760u), ((_e581 | 4194304u) & 4294901760u), ((_e581 & 2147483647u) > 2139095040u)) >> 16u) << _e608));
    }
}
