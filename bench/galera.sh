#!/usr/bin/env bash
# The same sysbench workloads as bench/sysbench.sh, against a MariaDB Galera cluster, so
# that both systems are measured in one sitting on one machine (docs/BENCHMARKS.md).
#
#   bench/galera.sh 10.77.0.1                 # a Galera node; user sb / password sb
#   SECONDS_PER_RUN=20 PS_MODES=auto bench/galera.sh 10.77.0.1
#
# Starting the Galera cluster is not this script's job: docs/BENCHMARKS.md says how it was
# started for the figures there (three MariaDB 10.11 + Galera 4 nodes, one network
# namespace each, innodb_flush_log_at_trx_commit=1). The database `sbtest` is dropped and
# prepared again (TABLES x TABLE_SIZE rows), then every workload runs with THREADS
# threads. Writes a Markdown table (tps, qps, p95, errors, busy CPU time of the whole
# machine per transaction) to OUT and prints it.
#
# Settings (environment): SECONDS_PER_RUN [20], THREADS [8], TABLES [4], TABLE_SIZE
# [10000], WORKLOADS, PS_MODES [auto disable], GALERA_USER [sb], GALERA_PASSWORD [sb],
# OUT [/tmp/galera-sysbench.md].
set -euo pipefail

HOST=${1:?usage: bench/galera.sh GALERA_NODE_ADDRESS}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
GALERA_USER=${GALERA_USER:-sb}
GALERA_PASSWORD=${GALERA_PASSWORD:-sb}
OUT=${OUT:-/tmp/galera-sysbench.md}
LOGS=${OUT%.md}-logs

for tool in sysbench; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
CLIENT=$(command -v mariadb || command -v mysql || true)
[ -n "$CLIENT" ] || { echo "missing: the mariadb or mysql client" >&2; exit 1; }

SB=(sysbench --db-driver=mysql --mysql-host="$HOST" --mysql-user="$GALERA_USER"
    --mysql-password="$GALERA_PASSWORD" --mysql-db=sbtest
    --tables="$TABLES" --table-size="$TABLE_SIZE")

mkdir -p "$LOGS"
"$CLIENT" -h"$HOST" -u"$GALERA_USER" -p"$GALERA_PASSWORD" \
  -e "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
echo "prepare: $TABLES tables x $TABLE_SIZE rows on $HOST"
"${SB[@]}" --threads="$TABLES" oltp_read_write prepare >"$LOGS/prepare.log" 2>&1 ||
  { cat "$LOGS/prepare.log"; exit 1; }

ROWS=()
for w in $WORKLOADS; do
  for mode in $PS_MODES; do
    run_workload "$w" "$mode" "$LOGS/$w-$mode.log"
    row="| $w | $mode | ${tps:-?} | ${qps:-?} | ${p95:-?} | ${errors:-?} | ${machine_us:-?} |"
    [ "$status" = ok ] || row="$row $status"
    echo "$row"
    ROWS+=("$row")
  done
done

{
  echo "Galera at $HOST: sysbench $(sysbench --version | awk '{print $2}'), $THREADS threads,"
  echo "$TABLES tables x $TABLE_SIZE rows, $SECONDS_PER_RUN s per run; $(date -u '+%Y-%m-%d %H:%M UTC')."
  echo
  echo "| workload | ps-mode | tps | qps | p95 ms | errors | machine CPU µs/tx |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
} >"$OUT"
echo
cat "$OUT"
