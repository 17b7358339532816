import struct, random, sys, os
def save(path, fmt, shape, values):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (fmt, ", ".join(str(s) for s in shape) + ("," if len(shape)==1 else ""))
    pad = 64 - ((10 + len(h) + 1) % 64)
    h = h + ' ' * (pad % 64) + '\n'
    with open(path, 'wb') as f:
        f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode())
        f.write(struct.pack('<%df' % len(values), *values))
d = sys.argv[1]
n = 1 << 20
save(os.path.join(d, 'sx.npy'), '<f4', [n], [((i * 37) % 1001) * 0.125 - 60.0 for i in range(n)])
save(os.path.join(d, 'sy.npy'), '<f4', [n], [float(i % 17) - 8.0 for i in range(n)])
random.seed(7)
rows, feat = 8192, 8
x, y = [], []
for r in range(rows):
    c = -0.5 if r % 2 == 0 else 0.5
    for f in range(feat):
        x.append(1.0 if f == feat - 1 else c + random.random() - 0.5)
    y.append(float(r % 2))
save(os.path.join(d, 'tx.npy'), '<f4', [rows, feat], x)
save(os.path.join(d, 'ty.npy'), '<f4', [rows], y)
