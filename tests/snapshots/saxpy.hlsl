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

    float _e6 = params.a;
    uint _e8 = params.x_len;
    uint _e10 = params.y_len;
    i = global_id.x;
    uint _e12 = i;
    if ((_e12 < _e10)) {
        uint _e14 = i;
        uint _e15 = i;
        bool _e16 = (_e15 < _e8);
        float _e20 = asfloat(x.Load((_e16 ? _e15 : 0u)*4));
        uint _e24 = i;
        float _e26 = asfloat(y.Load(_e24*4));
        y.Store(_e14*4, asuint(((_e6 * (_e16 ? _e20 : 0.0)) + _e26)));
    }
}
