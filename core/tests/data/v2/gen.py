import os
# byte j of file k: the same formula core/src/merkle/tests.rs uses
def content(k, n):
    return bytes((((j * 0x9E3779B1 + k * 7919) & 0xFFFFFFFFFFFFFFFF) >> 11) & 0xFF for j in range(n))
sizes = [("a_empty", 0), ("b_small", 100), ("c_block", 16384), ("d_piece", 32768), ("e_two", 40000), ("f_six", 5*32768+1), ("g_big", 300000)]
os.makedirs("data/fx/sub", exist_ok=True)
for k, (name, n) in enumerate(sizes):
    path = "data/fx/sub/" + name if name.startswith("f") else "data/fx/" + name
    open(path, "wb").write(content(k, n))
