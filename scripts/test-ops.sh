#!/usr/bin/env bash
# The operator's view of a built servreg, with tools ctest does not assume: promtool and a real
# Prometheus server on /metrics and discovering scrape targets through /v1/targets, and the
# status page in headless Chromium (tests/browser/).
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

# Writes the ```yaml block after the comment that names $1 in docs/operations.md to $2.
doc_block() {
    awk -v marker="$1" '$0 ~ marker {f = 1; next} f && /^```yaml/ {p = 1; next} p && /^```/ {exit} p' \
        "$SERVREG_ROOT/docs/operations.md" >"$2"
}
# Passes test $1 when `promtool check $2` accepts the file $3 (not empty), else shows why not.
promtool_check() {
    if [ -s "$3" ] && promtool check "$2" "$3" >"$3.promtool" 2>&1; then
        pass "$1"
    else
        fail "$1"
        cat "$3.promtool" 2>/dev/null || echo "# $3 is empty"
    fi
}

doc_block servreg-alert-rules "$work/rules.yml"
promtool_check "promtool check rules accepts the alert rules of docs/operations.md" \
    rules "$work/rules.yml"

# --- service discovery: two small /metrics endpoints registered in a second servreg -----------

# A servreg of its own with the default --ttl, so that the endpoints stay alive without pinging
# again while Prometheus discovers them.
"$binary" --port 0 --dburl "sqlite:///$work/sd.db" 2>"$work/servreg-sd.log" >/dev/null &
pids+=($!)
wait_for "grep -q 'listening on http://' '$work/servreg-sd.log'" 20 || {
    cat "$work/servreg-sd.log"
    echo "test-ops: the second servreg did not start" >&2
    exit 1
}
sd_port="$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/api.*|\1|p' "$work/servreg-sd.log")"

# Endpoint a serves its metrics at /custom/metrics (named by its metadata), b at /metrics.
mkdir -p "$work/sd-a/custom" "$work/sd-b"
printf '# TYPE sd_demo gauge\nsd_demo 1\n' >"$work/sd-a/custom/metrics"
printf '# TYPE sd_demo gauge\nsd_demo 2\n' >"$work/sd-b/metrics"
sd_a="127.0.0.1:$(free_port)"
sd_b="127.0.0.1:$(free_port)"
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$work/sd-a" "${sd_a#*:}" \
    >"$work/http-a.log" 2>&1 &
pids+=($!)
/usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$work/sd-b" "${sd_b#*:}" \
    >"$work/http-b.log" 2>&1 &
pids+=($!)
wait_for "curl -sf http://$sd_a/custom/metrics && curl -sf http://$sd_b/metrics" 10 || {
    cat "$work/http-a.log" "$work/http-b.log"
    echo "test-ops: the /metrics endpoints did not start" >&2
    exit 1
}
# Calls `$1` on the second servreg with the JSON params `$2`.
sd_rpc() {
    curl -sf -H 'Content-Type: application/json' \
        -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2,\"id\":1}" \
        "http://127.0.0.1:$sd_port/api" >/dev/null
}
sd_rpc ping "[\"sd.billing\",\"http://$sd_a/api\",
    {\"env\":\"prod\",\"team.name\":\"pay\",\"metrics_path\":\"/custom/metrics\"}]"
sd_rpc ping "[\"sd.shop\",\"http://$sd_b/\",{\"env\":\"prod\",\"team.name\":\"web\"}]"
# Left out by the documented configuration's meta.env=prod filter.
sd_rpc ping '["sd.test","http://127.0.0.1:9/",{"env":"dev"}]'

# The http_sd_configs job of docs/operations.md, pointed at this servreg, refreshed every second.
doc_block servreg-http-sd "$work/http-sd.yml"
promtool_check "promtool check config accepts the http_sd_configs example of docs/operations.md" \
    config "$work/http-sd.yml"
sed -e '/^scrape_configs:/d' -e "s|http://registry-1.example.internal:5000/|http://127.0.0.1:$sd_port/|" \
    -e 's|refresh_interval: .*|refresh_interval: 1s|' "$work/http-sd.yml" >"$work/http-sd-job.yml"

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
cat "$work/http-sd-job.yml" >>"$work/prometheus.yml"
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

# --- Prometheus discovering through /v1/targets ----------------------------------------------

# The active targets of the job "services", sorted, one a line: the address, the health, the
# labels that the documented relabelling makes of __meta_servreg_service and of the metadata,
# the scrape URL, and the __meta_servreg_url label as discovered.
sd_targets() {
    curl -sf "$prom/api/v1/targets?state=active" | /usr/bin/python3 -c '
import json, sys
lines = []
for t in json.load(sys.stdin)["data"]["activeTargets"]:
    l = t["labels"]
    if l.get("job") == "services":
        lines.append(" ".join([l["instance"], t["health"], l.get("service", "-"),
                               l.get("team_name", "-"), t["scrapeUrl"],
                               t["discoveredLabels"].get("__meta_servreg_url", "-")]))
print("\n".join(sorted(lines)))'
}
# Waits up to $2 seconds for sd_targets to print $1, and passes or fails test $3 with what it saw.
sd_expect() {
    local want="$1" limit="$2" what="$3" since=$SECONDS
    if wait_for '[ "$(sd_targets)" = "$want" ]' "$limit"; then
        pass "$what ($((SECONDS - since)) s)"
    else
        fail "$what (not within $limit s)"
        echo "# want:" && printf '%s\n' "$want" | sed 's/^/#   /'
        echo "# got:" && { sd_targets || true; } | sed 's/^/#   /'
        echo "# /v1/targets: $(curl -s "http://127.0.0.1:$sd_port/v1/targets")"
        tail -5 "$work/prometheus.log"
    fi
}
a_up="$sd_a up sd.billing pay http://$sd_a/custom/metrics http://$sd_a/api"
b_up="$sd_b up sd.shop web http://$sd_b/metrics http://$sd_b/"
sd_started=$SECONDS
sd_expect "$(printf '%s\n' "$a_up" "$b_up" | LC_ALL=C sort)" 20 \
    "Prometheus discovers the env=prod endpoints through /v1/targets, labelled, and scrapes them"
up_a="$(query 'up{job="services",service="sd.billing",env="prod",metrics_path="/custom/metrics"}' || true)"
if [ "$up_a" = 1 ]; then
    pass "up = 1 for a discovered endpoint, its metadata as labels"
else
    fail "up = 1 for a discovered endpoint, its metadata as labels (got '$up_a')"
fi

# Drained and unregistered at once, so that one discovery round shows both.
sd_rpc drain "[\"http://$sd_a/api\"]"
sd_rpc unregister "[\"http://$sd_b/\"]"
sd_expect "" 15 "a drained and an unregistered endpoint are dropped by Prometheus"
sd_rpc undrain "[\"http://$sd_a/api\"]"
sd_expect "$a_up" 15 "an undrained endpoint is discovered and scraped again"
echo "# service discovery through Prometheus: $((SECONDS - sd_started)) s"

# --- the event stream, read by curl -N -------------------------------------------------------

# A watcher of ops.sse sees the empty answer, the instance that registers, and its expiry at
# the TTL (3 s) without anyone calling anything: three events, in order.
curl -sN --max-time 7 "http://127.0.0.1:$port/v1/watch?name=ops.sse" >"$work/sse.txt" &
sse_pid=$!
wait_for "[ -s '$work/sse.txt' ]" 5 || true
rpc '{"jsonrpc":"2.0","method":"ping","params":["ops.sse","10.9.8.1",80],"id":7}'
wait "$sse_pid" || true  # curl ends at --max-time
if /usr/bin/python3 - "$work/sse.txt" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
events = [block for block in text.split("\n\n") if block.strip() and not block.startswith(":")]
got = []
for block in events:
    fields = dict(line.split(": ", 1) for line in block.splitlines())
    data = json.loads(fields["data"])
    assert fields["event"] == "instances" and int(fields["id"]) == data["index"], block
    got.append((data["index"], data["instances"]))
answers = [instances for _, instances in got]
indexes = [index for index, _ in got]
want = [[], [{"host": "10.9.8.1", "port": 80}], []]
if answers != want or indexes != sorted(set(indexes)):
    sys.exit(f"events {got!r}, expected the answers {want!r} with growing indexes:\n{text}")
PY
then
    pass "curl -N reads /v1/watch: the answer, a registration and an expiry, as events"
else
    fail "curl -N reads /v1/watch: the answer, a registration and an expiry, as events"
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
