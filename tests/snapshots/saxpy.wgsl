struct saxpyParams {
    a: f32,
    x_len: u32,
    y_len: u32,
}

@group(0) @binding(0) 
var<storage> x: array<f32>;
@group(0) @binding(1) 
var<storage, read_write> y: array<f32>;
@group(0) @binding(2) 
var<uniform> params: saxpyParams;

@compute @workgroup_size(64, 1, 1) 
fn saxpy(@builtin(global_invocation_id) global_id: vec3<u32>) {
    var i: u32;

    let _e6 = params.a;
    let _e8 = params.x_len;
    let _e10 = params.y_len;
    i = global_id.x;
    let _e12 = i;
    if (_e12 < _e10) {
        let _e14 = i;
        let _e15 = i;
        let _e16 = (_e15 < _e8);
        let _e20 = x[select(0u, _e15, _e16)];
        let _e24 = i;
        let _e26 = y[_e24];
        y[_e14] = ((_e6 * select(0f, _e20, _e16)) + _e26);
    }
}
