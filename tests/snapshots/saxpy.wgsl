struct saxpyParams {
    a: f32,
    x_len: u32,
    y_len: u32,
    grid_x: u32,
    grid_y: u32,
    grid_z: u32,
    grid_fold: u32,
}

@group(0) @binding(0) 
var<storage> x: array<f32>;
@group(0) @binding(1) 
var<storage, read_write> y: array<f32>;
@group(0) @binding(2) 
var<uniform> params: saxpyParams;

@compute @workgroup_size(64, 1, 1) 
fn saxpy(@builtin(local_invocation_id) local_id: vec3<u32>, @builtin(workgroup_id) workgroup_id: vec3<u32>, @builtin(num_workgroups) num_workgroups: vec3<u32>) {
    var i: u32;

    let _e8 = params.a;
    let _e10 = params.x_len;
    let _e12 = params.y_len;
    let _e14 = params.grid_x;
    let _e16 = params.grid_y;
    let _e18 = params.grid_z;
    let _e20 = params.grid_fold;
    let _e26 = (workgroup_id.y / _e20);
    let _e28 = (((workgroup_id.y % _e20) * num_workgroups.x) + workgroup_id.x);
    if (_e28 >= _e14) {
        return;
    }
    i = vec3<u32>(((_e28 * 64u) + local_id.x), ((_e26 * 1u) + local_id.y), ((workgroup_id.z * 1u) + local_id.z)).x;
    let _e46 = i;
    if (_e46 < _e12) {
        let _e48 = i;
        let _e49 = i;
        let _e50 = (_e49 < _e10);
        let _e54 = x[select(0u, _e49, _e50)];
        let _e58 = i;
        let _e60 = y[_e58];
        y[_e48] = fma((_e8 * select(0f, _e54, _e50)), 1f, _e60);
    }
}
