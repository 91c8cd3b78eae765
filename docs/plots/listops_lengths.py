#!/usr/bin/env python3
"""Length statistics of ListOps expressions as `ListOps.Generate` draws them (src/Lru/Data/ListOps.cs, transcribed:
depth <= 10, 2-10 arguments, an operator below the root with probability 0.25, rejected when longer than MAX or
shorter than 20 tokens). Python's own random numbers, so the statistics, not the expressions, match the library's.

    /usr/bin/python3 docs/plots/listops_lengths.py 2000 2000    # MAX, draws
"""
import random
import statistics
import sys


def draw(rng, depth, out, max_length, max_depth=10, max_args=10, p=0.25):
    if len(out) >= max_length:
        return False
    if not (depth == 1 or (depth <= max_depth and rng.random() < p)):
        out.append(1)
        return True
    out.append(11)
    for _ in range(2 + rng.randrange(max_args - 1)):
        if not draw(rng, depth + 1, out, max_length):
            return False
    if len(out) >= max_length:
        return False
    out.append(15)
    return True


def main():
    max_length, count = int(sys.argv[1]), int(sys.argv[2])
    rng, lengths = random.Random(1), []
    for _ in range(count):
        while True:
            out = []
            if draw(rng, 1, out, max_length) and len(out) >= min(20, max_length):
                break
        lengths.append(len(out))
    lengths.sort()
    print(f"max {max_length}: mean {statistics.mean(lengths):.0f}, median {lengths[count // 2]}, "
          f"10th percentile {lengths[count // 10]}, 90th {lengths[9 * count // 10]}, longest {lengths[-1]}")


if __name__ == "__main__":
    main()
