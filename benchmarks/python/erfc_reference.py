#!/usr/bin/env python3
"""Writes benchmarks/Lru.Benchmarks/erfc_reference.csv: erfc(z) at 60 digits (mpmath) for the accuracy audit of
HandWrittenAccuracy.cs (`dotnet run -c Release --project benchmarks/Lru.Benchmarks -- accuracy`).

    python3 benchmarks/python/erfc_reference.py        # needs mpmath (Debian: python3-mpmath)

Each line is `z,hi,lo`: z a double (taken exactly), hi = erfc(z) rounded to double, lo = the 60-digit value minus hi
rounded to double, so hi + lo carries about 32 digits and a relative error can be measured well below 1e-16.
Points: 2000 per band, at non-round positions, in the bands [-8,0), [0,2), [2,5), [5,8), [8,12), [12,26.5).
"""
import os

from mpmath import mp, mpf, erfc

mp.dps = 60
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Lru.Benchmarks", "erfc_reference.csv")
BANDS = [(-8, 0), (0, 2), (2, 5), (5, 8), (8, 12), (12, 26.5)]
PER_BAND = 2000

with open(OUT, "w") as f:
    f.write("z,hi,lo\n")
    for lo_z, hi_z in BANDS:
        for i in range(PER_BAND):
            z = lo_z + (hi_z - lo_z) * (i + 0.3183) / PER_BAND  # a double
            exact = erfc(mpf(z))
            hi = float(exact)
            lo = float(exact - mpf(hi))
            f.write(f"{z!r},{hi!r},{lo!r}\n")
print("wrote", OUT)
