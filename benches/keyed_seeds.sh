#!/usr/bin/env bash
# The randomized conflict test of `keyed` ordering (#13) over many seeds: each seed runs
# CLIENTS=16 clients of random conflicting transactions for SECS seconds against mdbd over
# three fresh PostgreSQL (ENGINE=postgres, the default) or MariaDB (ENGINE=mariadb)
# servers, then checks that the three backends are identical, that a fresh server
# replayed from the delta log alone is identical to them, and that every acknowledged
# commit is present and no rolled-back one (cli/tests/common/keyed.rs, keyed_mysql.rs).
#
#   bash benches/keyed_seeds.sh              # seeds 1..50, 20 s each
#   FIRST=51 LAST=60 SECS=20 bash benches/keyed_seeds.sh
#   ENGINE=mariadb bash benches/keyed_seeds.sh
#
# Prints one line per seed and a summary; exits non-zero at the first divergence.
set -euo pipefail
cd "$(dirname "$0")/.."
FIRST=${FIRST:-1}
LAST=${LAST:-50}
SECS=${SECS:-20}
ENGINE=${ENGINE:-postgres}
cargo test -q -p mdbd --test "keyed_$ENGINE" --no-run 2>/dev/null
passed=0
for seed in $(seq "$FIRST" "$LAST"); do
  if out=$(MDBD_KEYED_SEEDS=$seed MDBD_KEYED_SECS=$SECS cargo test -q -p mdbd --test "keyed_$ENGINE" random_conflicting -- --nocapture 2>&1); then
    echo "$out" | grep -o 'seed [0-9]*: .*' || true
    passed=$((passed + 1))
  else
    echo "$out" | grep -E 'seed [0-9]+: |panicked|differs|acknowledged' | head -20
    echo "seed $seed FAILED after $passed passing seeds"
    exit 1
  fi
done
echo "keyed on $ENGINE: $passed seeds ($FIRST..$LAST, ${SECS}s each, 16 clients), 0 divergence"
