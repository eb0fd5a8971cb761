#!/usr/bin/env bash
# The operator's view of a built servreg, with tools ctest does not assume: promtool and a real
# Prometheus server on /metrics, and the status page in headless Chromium (tests/browser/).
# Builds nothing. Usage: scripts/test-ops.sh path/to/servreg
# Screenshots go to tests/artifacts/ (git-ignored).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
    echo "usage: $0 path/to/servreg" >&2
    exit 2
fi
binary="$(realpath "$1")"
started=$SECONDS

# prometheus provides promtool; chromium-driver drives chromium; the fonts make screenshots
# readable on a minimal system.
ensure_packages prometheus chromium chromium-driver fonts-dejavu-core python3 curl

work="$(mktemp -d /tmp/servreg-ops.XXXXXX)"
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- a daemon with a few calls made -----------------------------------------------------------

# A short --ttl, so that a service pinged once is dead by the time the alert rules run.
"$binary" --port 0 --ttl 3 --dburl "sqlite:///$work/reg.db" 2>"$work/servreg.log" >/dev/null &
pids+=($!)
wait_for "grep -q 'listening on http://' '$work/servreg.log'" 20 || {
    cat "$work/servreg.log"
    echo "test-ops: servreg did not start" >&2
    exit 1
}
port="$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/api.*|\1|p' "$work/servreg.log")"
api="http://127.0.0.1:$port/api"

rpc() {
    curl -sf -H 'Content-Type: application/json' -d "$1" "$api" >/dev/null
}
rpc '{"jsonrpc":"2.0","method":"ping","params":["ops.dead","10.9.7.1",80],"id":0}'
for i in 1 2 3; do
    rpc "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[\"ops.svc\",\"10.9.9.$i\",80],\"id\":$i}"
done
rpc '{"jsonrpc":"2.0","method":"ping","params":["ops.svc","10.9.9.9",0],"id":4}'
rpc '{"jsonrpc":"2.0","method":"no_such_method","id":5}'
rpc '{"jsonrpc":"2.0","method":"locate_service","params":["ops.*"],"id":6}'

# --- promtool ---------------------------------------------------------------------------------

curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics.txt"
if promtool check metrics <"$work/metrics.txt" >"$work/promtool.txt" 2>&1; then
    pass "promtool check metrics accepts /metrics"
else
    fail "promtool check metrics accepts /metrics"
    cat "$work/promtool.txt"
fi

# --- the alert rules of docs/operations.md -------------------------------------------------------

awk '/servreg-alert-rules/ {f = 1; next} f && /^```yaml/ {p = 1; next} p && /^```/ {exit} p' \
    "$SERVREG_ROOT/docs/operations.md" >"$work/rules.yml"
if [ -s "$work/rules.yml" ] && promtool check rules "$work/rules.yml" >"$work/promtool-rules.txt" 2>&1; then
    pass "promtool check rules accepts the alert rules of docs/operations.md"
else
    fail "promtool check rules accepts the alert rules of docs/operations.md"
    cat "$work/promtool-rules.txt"
fi

# --- a real Prometheus scraping it ------------------------------------------------------------

prom_port="$(free_port)"
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $work/rules.yml
scrape_configs:
  - job_name: servreg
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
prom="http://127.0.0.1:$prom_port"

# Prints the value of PromQL `$1` (the first series), or nothing.
query() {
    curl -sf --get "$prom/api/v1/query" --data-urlencode "query=$1" |
        /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")'
}
target_up() {
    curl -sf "$prom/api/v1/targets" | /usr/bin/python3 -c '
import json, sys
targets = json.load(sys.stdin)["data"]["activeTargets"]
sys.exit(0 if any(t["labels"].get("job") == "servreg" and t["health"] == "up" for t in targets) else 1)'
}

if wait_for "curl -sf '$prom/-/ready'" 30 && wait_for target_up 20; then
    pass "Prometheus scrapes servreg: the target is up"
else
    fail "Prometheus scrapes servreg: the target is up"
    curl -s "$prom/api/v1/targets" || true
    tail -20 "$work/prometheus.log"
fi

ping_total='servreg_rpc_requests_total{job="servreg",method="ping",code="0"}'
if wait_for '[ "$(query "$ping_total")" = 4 ]' 10; then
    pass "Prometheus has servreg_rpc_requests_total for ping = 4"
else
    fail "Prometheus has servreg_rpc_requests_total for ping = 4 (got '$(query "$ping_total")')"
fi
for i in 1 2 3 4 5; do
    rpc "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[\"ops.more\",\"10.9.8.$i\",80],\"id\":$i}"
done
if wait_for '[ "$(query "$ping_total")" = 9 ]' 10; then
    pass "the counter moves as calls are made: 9 after five more pings"
else
    fail "the counter moves as calls are made (got '$(query "$ping_total")', want 9)"
fi
total="$(query 'sum(servreg_instances{job="servreg"})' || true)"
if [ "$total" = 9 ]; then
    pass "servreg_instances (alive + dead) = 9 in Prometheus"
else
    fail "servreg_instances (alive + dead) = 9 in Prometheus (got '$total')"
fi
buckets="$(query 'count(servreg_db_commit_duration_seconds_bucket{job="servreg"})' || true)"
if [ -n "$buckets" ] && [ "$buckets" -gt 1 ]; then
    pass "the commit latency histogram is scraped ($buckets buckets)"
else
    fail "the commit latency histogram is scraped (got '$buckets')"
fi

# ops.dead was pinged once, more than --ttl ago: its alert is pending (it has a "for" of 2m).
alert_pending() {
    curl -sf "$prom/api/v1/alerts" | /usr/bin/python3 -c '
import json, sys
alerts = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(a["labels"].get("alertname") == "ServregServiceHasNoAliveInstance"
                  and a["labels"].get("service") == "ops.dead"
                  and a["state"] in ("pending", "firing") for a in alerts) else 1)'
}
if wait_for alert_pending 15; then
    pass "ServregServiceHasNoAliveInstance is pending for the expired service in Prometheus"
else
    fail "ServregServiceHasNoAliveInstance is pending for the expired service in Prometheus"
    curl -s "$prom/api/v1/rules" || true
fi

# --- the status page in headless Chromium ----------------------------------------------------

artifacts="$SERVREG_ROOT/tests/artifacts"
if /usr/bin/python3 "$SERVREG_ROOT/tests/browser/status_page.py" "$binary" "$artifacts"; then
    pass "the status page in headless Chromium (screenshots in tests/artifacts/)"
else
    fail "the status page in headless Chromium"
fi

echo "test-ops: $passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
