#!/usr/bin/env python3
"""Accounts for the OWRS benchmark: N single-family residential bills for
Santa Monica's 2016 structure (usage_ccf drawn from a lognormal around a
typical bimonthly 14 ccf, with 2% zero-use bills), seeded.

    python3 benches/owrs/accounts.py 1000000 > /tmp/smc-1m.csv
"""
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 2016)
out = sys.stdout
out.write("id,cust_class,meter_size,usage_ccf\n")
meters = ['5/8"', '3/4"', '1"']
for i in range(1, n + 1):
    usage = 0 if rng.random() < 0.02 else round(rng.lognormvariate(2.5, 0.7), 1)
    out.write(f'S{i},RESIDENTIAL_SINGLE,"{rng.choice(meters).replace(chr(34), chr(34) * 2)}",{usage}\n')
