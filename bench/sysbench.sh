#!/usr/bin/env bash
# sysbench 1.0.20 OLTP workloads against a quorate cluster started by `quorate demo`.
#
#   target/release/quorate demo --data /tmp/sb &
#   bench/sysbench.sh /tmp/sb                 # 20 s per run
#   SECONDS_PER_RUN=5 bench/sysbench.sh /tmp/sb
#
# Reads DIR/cluster.json (written by `quorate demo`), creates the database `sbtest`,
# runs `prepare` (TABLES x TABLE_SIZE rows), then every workload of the issue with
# --db-ps-mode=auto and --db-ps-mode=disable, THREADS client threads each. After each
# run it waits until every replica has applied the same log index with nothing in
# flight and compares their checksums (GET /v1/checksum). Writes a Markdown table
# (tps, p95 latency, errors, elections during the run, replicas equal, CPU time per
# transaction of each node process and of the whole machine) to OUT and prints it; the
# raw sysbench output of each run is kept next to it.
#
# Settings (environment):
#   SECONDS_PER_RUN  seconds per run                          [20]
#   THREADS          sysbench threads                         [8]
#   TABLES           tables                                   [4]
#   TABLE_SIZE       rows per table                           [10000]
#   TARGET           leader: connect to the leader's MySQL port;
#                    all: spread connections over every node  [leader]
#   WORKLOADS        space-separated list                     [the eight below]
#   PS_MODES         space-separated list                     [auto disable]
#   OUT              the Markdown results file                [DIR/sysbench-results.md]
#   GALERA           results of bench/galera.sh from the same sitting, for the
#                    comparison columns              [the brief's Galera figures]
#
# Needs: sysbench, the mariadb (or mysql) client, curl, jq.
set -euo pipefail

DIR=${1:?usage: bench/sysbench.sh DATA_DIR_OF_QUORATE_DEMO}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
TARGET=${TARGET:-leader}
OUT=${OUT:-$DIR/sysbench-results.md}
GALERA=${GALERA:-}
LOGS=${OUT%.md}-logs
CONVERGE_TIMEOUT_S=120

for tool in sysbench curl jq; do
  command -v "$tool" >/dev/null || { echo "missing: $tool" >&2; exit 1; }
done
CLIENT=$(command -v mariadb || command -v mysql || true)
[ -n "$CLIENT" ] || { echo "missing: the mariadb or mysql client" >&2; exit 1; }

CLUSTER=$DIR/cluster.json
[ -f "$CLUSTER" ] || { echo "no $CLUSTER: start the cluster with 'quorate demo --data $DIR'" >&2; exit 1; }
USER_=$(jq -r .admin_user "$CLUSTER")
PASSWORD=$(jq -r .admin_password "$CLUSTER")
mapfile -t HTTP < <(jq -r '.nodes[].http_addr' "$CLUSTER")
mapfile -t MYSQL < <(jq -r '.nodes[].mysql_addr' "$CLUSTER")
mapfile -t IDS < <(jq -r '.nodes[].id' "$CLUSTER")
mapfile -t PIDS < <(jq -r '.nodes[].pid' "$CLUSTER")
# The HTTP API needs the account too.
CURL=(curl -fsS -u "$USER_:$PASSWORD")

leader_id() {
  local h
  for h in "${HTTP[@]}"; do
    if "${CURL[@]}" --max-time 2 "http://$h/v1/status" 2>/dev/null | jq -e '.writable == true and .state == "leader"' >/dev/null; then
      "${CURL[@]}" --max-time 2 "http://$h/v1/status" | jq -r .node_id
      return 0
    fi
  done
  return 1
}

LEADER=""
for _ in $(seq 1 100); do
  LEADER=$(leader_id || true)
  [ -n "$LEADER" ] && break
  sleep 0.2
done
[ -n "$LEADER" ] || { echo "no leader serving writes" >&2; exit 1; }

hosts=() ports=()
for i in "${!IDS[@]}"; do
  if [ "$TARGET" = all ] || [ "${IDS[$i]}" = "$LEADER" ]; then
    hosts+=("${MYSQL[$i]%:*}")
    ports+=("${MYSQL[$i]##*:}")
  fi
done
HOSTS=$(IFS=,; echo "${hosts[*]}")
PORTS=$(IFS=,; echo "${ports[*]}")

# Accounts use caching_sha2_password (the demo's MySQL port offers TLS): one TLS login
# per node lets sysbench's plaintext connections take the fast path afterwards.
for i in "${!MYSQL[@]}"; do
  "$CLIENT" --ssl -h "${MYSQL[$i]%:*}" -P "${MYSQL[$i]##*:}" -u "$USER_" -p"$PASSWORD" -e 'SELECT 1' >/dev/null
done

SB=(sysbench --db-driver=mysql --mysql-host="$HOSTS" --mysql-port="$PORTS"
    --mysql-user="$USER_" --mysql-password="$PASSWORD" --mysql-db=sbtest
    --tables="$TABLES" --table-size="$TABLE_SIZE")

# Every replica at the same applied index with nothing in flight, then compare checksums.
replicas_equal() {
  local deadline=$((SECONDS + CONVERGE_TIMEOUT_S)) sums h
  while [ $SECONDS -lt $deadline ]; do
    sums=""
    for h in "${HTTP[@]}"; do
      sums+=$("${CURL[@]}" --max-time 10 "http://$h/v1/checksum" | jq -r '"\(.applied_index) \(.speculative_in_flight) \(.sha256)"')$'\n'
    done
    if [ "$(printf '%s' "$sums" | awk '{print $1}' | sort -u | wc -l)" = 1 ] &&
       [ "$(printf '%s' "$sums" | awk '$2 != 0' | wc -l)" = 0 ]; then
      if [ "$(printf '%s' "$sums" | awk '{print $3}' | sort -u | wc -l)" = 1 ]; then
        echo "yes (index $(printf '%s' "$sums" | head -1 | awk '{print $1}'))"
      else
        echo "NO: $(printf '%s' "$sums" | tr '\n' ';')"
      fi
      return
    fi
    sleep 0.5
  done
  echo "NO: did not converge in ${CONVERGE_TIMEOUT_S} s: $(printf '%s' "$sums" | tr '\n' ';')"
}

# The highest Raft term any node reports: a run that raises it had an election.
max_term() {
  local h t max=0
  for h in "${HTTP[@]}"; do
    t=$("${CURL[@]}" --max-time 2 "http://$h/v1/status" 2>/dev/null | jq -r '.term // 0' || echo 0)
    [ "${t:-0}" -gt "$max" ] && max=$t
  done
  echo "$max"
}

# CPU time (clock ticks, user + system) each node process has used so far, in IDS order.
cpu_ticks() {
  local p
  for p in "${PIDS[@]}"; do
    awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo "?"
  done
}

# Microseconds of CPU per transaction of each node between two cpu_ticks readings ($1, $2:
# space-separated) over $3 transactions: the leader first, then the others.
cpu_per_tx() {
  local -a before=($1) after=($2)
  local hz i leader="" others=""
  hz=$(getconf CLK_TCK)
  for i in "${!IDS[@]}"; do
    local us="?"
    if [ "${before[$i]:-?}" != "?" ] && [ "${after[$i]:-?}" != "?" ] && [ "${3:-0}" -gt 0 ]; then
      us=$(awk -v a="${after[$i]}" -v b="${before[$i]}" -v hz="$hz" -v n="$3" \
        'BEGIN { printf "%.0f", (a - b) * 1000000 / hz / n }')
    fi
    if [ "${IDS[$i]}" = "$LEADER" ]; then leader=$us; else others="$others${others:+ / }$us"; fi
  done
  echo "$leader; $others"
}

# Galera figures to compare with: tps, p95 ms and machine CPU µs per transaction ("-" when
# unknown) of workload $1, ps-mode $2. From GALERA (a results file of bench/galera.sh,
# measured in the same sitting) when it is set, else the brief's run 2 (another sitting:
# indicative only; no CPU figure).
galera() {
  if [ -n "$GALERA" ]; then
    awk -F'|' -v w="$1" -v m="$2" '
      { gsub(/ /, "", $2); gsub(/ /, "", $3) }
      $2 == w && $3 == m {
        gsub(/ /, "", $4); gsub(/ /, "", $6); gsub(/ /, "", $8)
        print $4, $6, ($8 == "" ? "-" : $8); exit
      }' "$GALERA"
    return
  fi
  case $1 in
    oltp_point_select) echo "20498 0.67 -" ;;
    oltp_read_only) echo "1217 8.74 -" ;;
    oltp_read_write) echo "382 31.4 -" ;;
    oltp_write_only) echo "764 17.0 -" ;;
    oltp_insert) echo "1429 9.56 -" ;;
    oltp_update_index) echo "1729 8.13 -" ;;
    oltp_update_non_index) echo "1917 7.17 -" ;;
    oltp_delete) echo "11685 1.86 -" ;;
  esac
}

mkdir -p "$LOGS"
echo "cluster: $DIR (leader n$LEADER); sysbench connects to $TARGET: $HOSTS ports $PORTS"
"$CLIENT" -h"${hosts[0]}" -P"${ports[0]}" -u"$USER_" -p"$PASSWORD" \
  -e "DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest"
echo "prepare: $TABLES tables x $TABLE_SIZE rows"
"${SB[@]}" --threads="$TABLES" oltp_read_write prepare >"$LOGS/prepare.log" 2>&1 ||
  { cat "$LOGS/prepare.log"; exit 1; }
echo "  replicas equal after prepare: $(replicas_equal)"

ROWS=()
for w in $WORKLOADS; do
  for mode in $PS_MODES; do
    term_before=$(max_term)
    ticks_before=$(cpu_ticks | tr '\n' ' ')
    run_workload "$w" "$mode" "$LOGS/$w-$mode.log"
    cpu=$(cpu_per_tx "$ticks_before" "$(cpu_ticks | tr '\n' ' ')" "${txs:-0}")
    elections=$(( $(max_term) - term_before ))
    equal=$(replicas_equal)
    read -r g_tps g_p95 g_machine_us <<<"$(galera "$w" "$mode")"
    ratio=$(awk -v a="${tps:-0}" -v b="$g_tps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    row="| $w | $mode | ${tps:-?} | ${qps:-?} | ${p95:-?} | ${errors:-?} | ${reconnects:-?} | $elections | $equal | $g_tps | $g_p95 | ${ratio}x | $cpu | ${machine_us:-?} | ${g_machine_us:--} |"
    [ "$status" = ok ] || row="$row $status"
    echo "$row"
    ROWS+=("$row")
  done
done

{
  echo "sysbench $(sysbench --version | awk '{print $2}'), $THREADS threads, $TABLES tables x $TABLE_SIZE rows,"
  echo "$SECONDS_PER_RUN s per run, connected to the $TARGET ($HOSTS); $(date -u '+%Y-%m-%d %H:%M UTC');"
  echo "$(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), shared by the three nodes and sysbench."
  echo
  echo "| workload | ps-mode | tps | qps | p95 ms | errors | reconnects | elections | replicas equal | Galera tps | Galera p95 ms | vs Galera tps | CPU µs/tx (leader; others) | machine CPU µs/tx | Galera machine CPU µs/tx |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  if [ -n "$GALERA" ]; then
    echo "Galera columns: $GALERA (bench/galera.sh)."
  else
    echo "Galera columns: the brief's run 2 (another sitting; a comparison only counts within one)."
  fi
} >"$OUT"
echo
cat "$OUT"
echo
echo "results: $OUT; raw sysbench output: $LOGS/"
