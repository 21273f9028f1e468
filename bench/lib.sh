# Shared by bench/sysbench.sh (quorate) and bench/galera.sh (Galera), so that both run
# sysbench the same way and read its output the same way. Sourced, not run.

# Settings (environment), the same for both systems.
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
THREADS=${THREADS:-8}
TABLES=${TABLES:-4}
TABLE_SIZE=${TABLE_SIZE:-10000}
WORKLOADS=${WORKLOADS:-"oltp_read_write oltp_read_only oltp_write_only oltp_point_select oltp_insert oltp_update_index oltp_update_non_index oltp_delete"}
PS_MODES=${PS_MODES:-"auto disable"}

# Clock ticks the whole machine has spent busy so far, over all CPUs: user, nice, system,
# irq and softirq of /proc/stat (not idle, not iowait, not time stolen by the hypervisor).
machine_busy_ticks() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat
}

# Runs workload $1 with ps-mode $2 through the command in the array SB, output to $3, and
# sets: txs (transactions) tps qps p95 errors reconnects, machine_us (busy CPU time of the
# whole machine per transaction, in µs: the database, sysbench and anything else running,
# so two systems compare only on one machine, each measured with the other idle), and
# status ("ok" or why not).
run_workload() {
  local w=$1 mode=$2 log=$3 busy_before busy_after
  status=ok
  busy_before=$(machine_busy_ticks)
  "${SB[@]}" --threads="$THREADS" --time="$SECONDS_PER_RUN" --report-interval=0 \
    --db-ps-mode="$mode" "$w" run >"$log" 2>&1 || status="sysbench failed"
  busy_after=$(machine_busy_ticks)
  txs=$(awk '/transactions:/ {print $2}' "$log")
  machine_us=$(awk -v a="$busy_before" -v b="$busy_after" -v hz="$(getconf CLK_TCK)" \
    -v n="${txs:-0}" 'BEGIN { if (n > 0) printf "%d", (b - a) * 1000000 / hz / n; else print "?" }')
  tps=$(awk '/transactions:/ {gsub(/\(/, "", $3); print $3}' "$log")
  qps=$(awk '/queries:/ && !/performed/ {gsub(/\(/, "", $3); print $3}' "$log")
  p95=$(awk '/95th percentile:/ {print $3}' "$log")
  errors=$(awk '/ignored errors:/ {print $3}' "$log")
  reconnects=$(awk '/reconnects:/ {print $2}' "$log")
  if grep -q FATAL "$log"; then status="FATAL (see $(basename "$log"))"; fi
}
