struct narrow_casts_f16Params {
    x_len: u32,
    f_len: u32,
    k_len: u32,
    y_len: u32,
    z_len: u32,
    s_len: u32,
    q_len: u32,
    grid_x: u32,
    grid_y: u32,
    grid_z: u32,
    grid_fold: u32,
}

@group(0) @binding(0) 
var<storage> x: array<f32>;
@group(0) @binding(1) 
var<storage> f: array<f32>;
@group(0) @binding(2) 
var<storage> k: array<i32>;
@group(0) @binding(3) 
var<storage, read_write> y: array<atomic<u32>>;
@group(0) @binding(4) 
var<storage, read_write> z: array<f32>;
@group(0) @binding(5) 
var<storage, read_write> s: array<atomic<u32>>;
@group(0) @binding(6) 
var<storage, read_write> q: array<atomic<u32>>;
@group(0) @binding(7) 
var<uniform> params: narrow_casts_f16Params;

@compute @workgroup_size(64, 1, 1) 
fn narrow_casts_f16_(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) workgroup_id: vec3<u32>, @builtin(num_workgroups) num_workgroups: vec3<u32>) {
    let _e12 = params.x_len;
    let _e14 = params.f_len;
    let _e16 = params.k_len;
    let _e18 = params.y_len;
    let _e20 = params.z_len;
    let _e22 = params.s_len;
    let _e24 = params.q_len;
    let _e26 = params.grid_x;
    let _e28 = params.grid_y;
    let _e30 = params.grid_z;
    let _e32 = params.grid_fold;
    let _e38 = (workgroup_id.y / _e32);
    let _e40 = (((workgroup_id.y % _e32) * num_workgroups.x) + workgroup_id.x);
    if (_e40 >= _e26) {
        return;
    }
    let _e56 = vec3<u32>(((_e40 * 64u) + local_id.x), ((_e38 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z));
    if (_e56.x >= _e12) {
        return;
    }
    let _e62 = x[_e56.x];
    let _e63 = bitcast<u32>(_e62);
    let _e69 = (_e63 & 2147483647u);
    let _e71 = (_e69 >> 13u);
    let _e86 = min((126u - min((_e69 >> 23u), 112u)), 31u);
    let _e90 = ((_e69 & 8388607u) | 8388608u);
    if (_e56.x < _e18) {
        let _e124 = ((_e56.x & 1u) << 4u);
        atomicAnd((&y[(_e56.x >> 1u)]), ~((65535u << _e124)));
        atomicOr((&y[(_e56.x >> 1u)]), ((select(select(select((((_e90 + ((1u << (_e86 - 1u)) - 1u)) + ((_e90 >> _e86) & 1u)) >> _e86), (((_e69 + 3355447295u) + (_e71 & 1u)) >> 13u), (_e69 >= 947912704u)), 31744u, (_e69 >= 1199566848u)), ((_e71 & 1023u) | 32256u), (_e69 > 2139095040u)) | ((_e63 >> 16u) & 32768u)) << _e124));
    }
    let _e133 = x[_e56.x];
    let _e134 = bitcast<u32>(_e133);
    let _e140 = (_e134 & 2147483647u);
    let _e142 = (_e140 >> 13u);
    let _e157 = min((126u - min((_e140 >> 23u), 112u)), 31u);
    let _e161 = ((_e140 & 8388607u) | 8388608u);
    let _e188 = (select(select(select((((_e161 + ((1u << (_e157 - 1u)) - 1u)) + ((_e161 >> _e157) & 1u)) >> _e157), (((_e140 + 3355447295u) + (_e142 & 1u)) >> 13u), (_e140 >= 947912704u)), 31744u, (_e140 >= 1199566848u)), ((_e142 & 1023u) | 32256u), (_e140 > 2139095040u)) | ((_e134 >> 16u) & 32768u));
    let _e190 = (_e188 & 32767u);
    let _e196 = (_e190 << 13u);
    let _e200 = (_e196 | 2139095040u);
    if (_e56.x < _e20) {
        z[_e56.x] = bitcast<f32>((select(select((_e196 + 939524096u), select(_e200, (_e200 | 4194304u), (_e190 > 31744u)), (_e190 >= 31744u)), select((bitcast<u32>(f32(_e190)) - 201326592u), 0u, (_e190 == 0u)), (_e190 < 1024u)) | ((_e188 & 32768u) << 16u)));
    }
    let _e226 = (_e56.x < _e14);
    let _e230 = f[select(0u, _e56.x, _e226)];
    let _e233 = bitcast<u32>(select(0f, _e230, _e226));
    let _e239 = (_e233 & 2147483647u);
    let _e241 = (_e239 >> 13u);
    let _e256 = min((126u - min((_e239 >> 23u), 112u)), 31u);
    let _e260 = ((_e239 & 8388607u) | 8388608u);
    if (_e56.x < _e22) {
        let _e294 = ((_e56.x & 1u) << 4u);
        atomicAnd((&s[(_e56.x >> 1u)]), ~((65535u << _e294)));
        atomicOr((&s[(_e56.x >> 1u)]), ((select(select(select((((_e260 + ((1u << (_e256 - 1u)) - 1u)) + ((_e260 >> _e256) & 1u)) >> _e256), (((_e239 + 3355447295u) + (_e241 & 1u)) >> 13u), (_e239 >= 947912704u)), 31744u, (_e239 >= 1199566848u)), ((_e241 & 1023u) | 32256u), (_e239 > 2139095040u)) | ((_e233 >> 16u) & 32768u)) << _e294));
    }
    let _e302 = (_e56.x < _e16);
    let _e306 = k[select(0u, _e56.x, _e302)];
    let _e310 = bitcast<u32>(f32(select(0i, _e306, _e302)));
    let _e316 = (_e310 & 2147483647u);
    let _e318 = (_e316 >> 13u);
    let _e333 = min((126u - min((_e316 >> 23u), 112u)), 31u);
    let _e337 = ((_e316 & 8388607u) | 8388608u);
    if (_e56.x < _e24) {
        let _e371 = ((_e56.x & 1u) << 4u);
        atomicAnd((&q[(_e56.x >> 1u)]), ~((65535u << _e371)));
        atomicOr((&q[(_e56.x >> 1u)]), ((select(select(select((((_e337 + ((1u << (_e333 - 1u)) - 1u)) + ((_e337 >> _e333) & 1u)) >> _e333), (((_e316 + 3355447295u) + (_e318 & 1u)) >> 13u), (_e316 >= 947912704u)), 31744u, (_e316 >= 1199566848u)), ((_e318 & 1023u) | 32256u), (_e316 > 2139095040u)) | ((_e310 >> 16u) & 32768u)) << _e371));
    }
}
