#!/usr/bin/env bash
# Runs LRU.NET and its peers on the same shapes in one session and prints the figures side by
# side, so ratios come from one run on one (noisy, shared) machine. Needs Debian's python3-numpy,
# libopenblas0-pthread and python3-torch for the peer columns (apt-get install ...); without them
# only the LRU.NET figures are printed.
#
#   bash benchmarks/compare.sh [gemm|forward|train|all] [threads]
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
what="${1:-all}"
threads="${2:-2}"
py=/usr/bin/python3
dotnet build "$root/src/Lru.Cli" -c Release -v quiet -nologo >/dev/null || exit 1
lru() { dotnet "$root/src/Lru.Cli/bin/Release/net10.0/Lru.Cli.dll" "$@"; }
json() { tail -n 1 | $py -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }
has() { $py -c "import $1" 2>/dev/null; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), threads=$threads, $(date -u +%F)"

if [ "$what" = gemm ] || [ "$what" = all ]; then
  echo
  echo "SGEMM C = A·B, GFLOP/s (higher is better)"
  printf '%-18s %10s %10s %8s\n' "m×k×n" "LRU.NET" "OpenBLAS" "ratio"
  if has numpy; then
    blas=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS="$threads" $py "$root/benchmarks/python/sgemm_openblas.py" | tail -n 1)
  fi
  for shape in "1024 1024 1024" "8192 128 512" "8192 512 128"; do
    set -- $shape
    ours=$(lru bench --mode gemm --m "$1" --k "$2" --n "$3" --threads "$threads" --seconds 2 --json | json "['gflops']")
    peer="-"
    if [ -n "${blas:-}" ]; then
      peer=$(echo "$blas" | $py -c "import json,sys; d=json.load(sys.stdin); print(next(r['gflops'] for r in d['results'] if (r['m'],r['k'],r['n'])==($1,$2,$3)))" 2>/dev/null || echo "-")
    fi
    ratio=$( [ "$peer" != "-" ] && $py -c "print(f'{$ours/$peer:.2f}')" || echo "-")
    printf '%-18s %10s %10s %8s\n' "$1×$2×$3" "$ours" "$peer" "$ratio"
  done
fi

if [ "$what" = forward ] || [ "$what" = all ]; then
  echo
  echo "LRU layer forward, tokens/s (higher is better)"
  printf '%-20s %-10s %14s %14s %14s %9s %9s\n' "B,L,H,N" "scan" "LRU.NET" "naive RNN" "PyTorch" "vs RNN" "vs torch"
  for shape in "8 1024 128 256" "1 4096 64 64"; do
    set -- $shape
    torch="-"
    if has torch; then
      torch=$($py "$root/benchmarks/python/torch_lru.py" --mode forward --batch "$1" --length "$2" --hidden "$3" --state "$4" --threads "$threads" --seconds 2 | json "['torch_tokens_per_s']")
    fi
    naive=$(lru bench --batch "$1" --length "$2" --hidden "$3" --state "$4" --threads "$threads" --seconds 0 --json | json "['naive_rnn_tokens_per_s']")
    for scan in auto sequential chunked tree; do
      ours=$(lru bench --batch "$1" --length "$2" --hidden "$3" --state "$4" --threads "$threads" --scan "$scan" --no-naive --seconds 2 --json | json "['lru_tokens_per_s']")
      vt=$( [ "$torch" != "-" ] && $py -c "print(f'{$ours/$torch:.1f}×')" || echo "-")
      printf '%-20s %-10s %14.0f %14.0f %14s %9s %9s\n' "$1,$2,$3,$4" "$scan" "$ours" "$naive" "$torch" "$($py -c "print(f'{$ours/$naive:.0f}×')")" "$vt"
    done
  done
fi

if [ "$what" = train ] || [ "$what" = all ]; then
  echo
  echo "LRU layer forward+backward (training), tokens/s (higher is better)"
  printf '%-20s %14s %14s %14s %14s %9s %9s\n' "B,L,H,N" "LRU.NET layer" "LRU.NET block" "naive RNN" "PyTorch layer" "vs RNN" "vs torch"
  for shape in "8 1024 128 256" "1 4096 64 64"; do
    set -- $shape
    torch="-"
    if has torch; then
      torch=$($py "$root/benchmarks/python/torch_lru.py" --mode train --batch "$1" --length "$2" --hidden "$3" --state "$4" --threads "$threads" --seconds 3 | json "['torch_tokens_per_s']")
    fi
    out=$(lru bench --mode train --batch "$1" --length "$2" --hidden "$3" --state "$4" --threads "$threads" --seconds 3 --json | tail -n 1)
    ours=$(echo "$out" | json "['lru_tokens_per_s']"); block=$(echo "$out" | json "['block_tokens_per_s']"); naive=$(echo "$out" | json "['naive_rnn_tokens_per_s']")
    vt=$( [ "$torch" != "-" ] && $py -c "print(f'{$ours/$torch:.1f}×')" || echo "-")
    printf '%-20s %14.0f %14.0f %14.0f %14s %9s %9s\n' "$1,$2,$3,$4" "$ours" "$block" "$naive" "$torch" "$($py -c "print(f'{$ours/$naive:.0f}×')")" "$vt"
  done
fi
