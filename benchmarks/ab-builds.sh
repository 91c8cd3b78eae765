#!/bin/bash
# A/B of two published builds of the CLI in one run: alternating, 3 repetitions each, best-of inside `lru bench`.
# Usage: OLD=/path/to/old/Lru.Cli NEW=/path/to/new/Lru.Cli bash benchmarks/ab-builds.sh
: "${OLD:?set OLD to the old Lru.Cli}" "${NEW:?set NEW to the new Lru.Cli}"
run() { # label args
  for rep in 1 2 3; do
    for build in old new; do
      bin=$OLD; [ $build = new ] && bin=$NEW
      line=$($bin bench "$@" --no-naive --json --seconds 3 2>/dev/null | tail -1)
      echo "$1 $2 $3 $4 $5 $6 $7 $8 $9 ${10} | $build | $line"
    done
  done
}
run --mode forward --batch 8 --length 1024 --hidden 128 --state 256
run --mode forward --batch 1 --length 4096 --hidden 64 --state 64
run --mode train --batch 8 --length 1024 --hidden 128 --state 256
run --mode train --batch 1 --length 4096 --hidden 64 --state 64
run --mode step --batch 1 --length 1 --hidden 128 --state 256
run --mode model
