struct narrow_map_u8Params {
    x_len: u32,
    y_len: u32,
    w_len: u32,
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
var<storage, read_write> w: array<u32>;
@group(0) @binding(3) 
var<uniform> params: narrow_map_u8Params;

@compute @workgroup_size(64, 1, 1) 
fn narrow_map_u8_(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) workgroup_id: vec3<u32>, @builtin(num_workgroups) num_workgroups: vec3<u32>) {
    var i: u32;

    let _e9 = params.x_len;
    let _e11 = params.y_len;
    let _e13 = params.w_len;
    let _e15 = params.grid_x;
    let _e17 = params.grid_y;
    let _e19 = params.grid_z;
    let _e21 = params.grid_fold;
    let _e27 = (workgroup_id.y / _e21);
    let _e29 = (((workgroup_id.y % _e21) * num_workgroups.x) + workgroup_id.x);
    if (_e29 >= _e15) {
        return;
    }
    i = vec3<u32>(((_e29 * 64u) + local_id.x), ((_e27 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x;
    let _e47 = i;
    if (_e47 < _e13) {
        let _e49 = i;
        let _e50 = i;
        let _e51 = (_e50 < _e9);
        let _e53 = select(0u, _e50, _e51);
        let _e61 = x[(_e53 >> 2u)];
        w[_e49] = select(0u, ((_e61 >> ((_e53 & 3u) << 3u)) & 255u), _e51);
    }
    let _e68 = i;
    let _e70 = i;
    if ((_e68 < _e11) && ((_e70 % 3u) != 0u)) {
        let _e76 = i;
        let _e77 = i;
        let _e78 = (_e77 < _e9);
        let _e80 = select(0u, _e77, _e78);
        let _e88 = x[(_e80 >> 2u)];
        let _e107 = ((_e76 & 3u) << 3u);
        atomicAnd((&y[(_e76 >> 2u)]), ~((255u << _e107)));
        atomicOr((&y[(_e76 >> 2u)]), (((((select(0u, ((_e88 >> ((_e80 & 3u) << 3u)) & 255u), _e78) * 3u) & 255u) + 1u) & 255u) << _e107));
    }
}
