// vyre kernel `saxpy`: entry point `saxpy`
struct saxpyParams {
    float a;
    uint x_len;
    uint y_len;
    int _end_pad_0;
};

ByteAddressBuffer x : register(t0);
RWByteAddressBuffer y : register(u1);
cbuffer params : register(b2) { saxpyParams params; }

[numthreads(64, 1, 1)]
void saxpy(uint3 global_id : SV_DispatchThreadID)
{
    uint i = (uint)0;

    i = global_id.x;
    uint _e6 = i;
    uint _e8 = params.y_len;
    if ((_e6 < _e8)) {
        uint _e10 = i;
        float _e12 = params.a;
        uint _e13 = i;
        uint _e15 = params.x_len;
        bool _e16 = (_e13 < _e15);
        float _e20 = asfloat(x.Load((_e16 ? _e13 : 0u)*4));
        uint _e24 = i;
        float _e26 = asfloat(y.Load(_e24*4));
        y.Store(_e10*4, asuint(((_e12 * (_e16 ? _e20 : 0.0)) + _e26)));
    }
}
