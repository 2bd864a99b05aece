#!/usr/bin/env bash
# End-to-end run of dlqctl against the demo server (examples/server) over a
# real Redis: every command (operations and the audit log included), a
# refused confirmation, a cancelled operation, and an export compared byte
# for byte with what Redis holds.
#
#	cmd/dlqctl/e2e.sh 127.0.0.1:6379   # a Redis whose database 14 it may use
#
# It deletes the DLQ keys of database 14 before and after.
set -euo pipefail
cd "$(dirname "$0")/../.."
redis_addr=${1:?usage: e2e.sh REDIS_HOST:PORT}
db=14
rc() { redis-cli -h "${redis_addr%:*}" -p "${redis_addr#*:}" -n "$db" "$@"; }
clean() { rc --scan --pattern '*dlq*' | while read -r k; do rc DEL "$k" >/dev/null; done; }

work=$(mktemp -d)
server_pid= slow_pid=
finish() {
	[ -n "$slow_pid" ] && kill "$slow_pid" 2>/dev/null && wait "$slow_pid" 2>/dev/null
	[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
	clean
	rm -rf "$work"
}
trap finish EXIT
clean

(cd cmd/dlqctl && go build -o "$work/dlqctl" .)
go build -o "$work/server" ./examples/server
port=18180
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
"$work/server" -addr "127.0.0.1:$port" -redis "redis://$redis_addr/$db" -every 1h >"$work/server.log" 2>&1 &
server_pid=$!
export DLQ_URL="http://127.0.0.1:$port/api/v1/dlq/"
for _ in $(seq 100); do
	"$work/dlqctl" stats >/dev/null 2>&1 && break
	sleep 0.1
done
dlqctl() { "$work/dlqctl" "$@"; }
fail() { echo "e2e: $*" >&2; exit 1; }
line() { # line FILE TEXT...: a line of FILE holds every TEXT
	local f=$1 l t ok
	shift
	while IFS= read -r l; do
		ok=1
		for t; do
			case $l in *"$t"*) ;; *) ok= && break ;; esac
		done
		[ -n "$ok" ] && return 0
	done <"$f"
	return 1
}
expect() { # expect CODE COMMAND...: the command exits with CODE
	local want=$1 got=0
	shift
	"$@" >"$work/out" 2>"$work/err" || got=$?
	[ "$got" = "$want" ] || { cat "$work/out" "$work/err" >&2; fail "$* exited $got, want $want"; }
}

# Entries another program wrote: malformed, and 64 KiB.
rc LPUSH scrape:dlq 'not json {' >/dev/null
printf '{"id":"big","source_id":"s","job_id":null,"error":"%s","failed_at":"2026-01-02T03:04:05+00:00","retry_count":0,"dlq_type":"scrape"}' \
	"$(head -c 65536 /dev/zero | tr '\0' x)" | rc -x LPUSH scrape:dlq >/dev/null

expect 0 dlqctl stats
grep -q scrape "$work/out" || fail "stats: $(cat "$work/out")"
expect 0 dlqctl ls scrape --limit 5
expect 0 dlqctl ls extraction --all --ndjson
expect 3 dlqctl ls scrape --error "no such failure"
id=$(dlqctl ls scrape --json --error products | sed -n 's/^\[{"id":"\([^"]*\)".*/\1/p')
[ -n "$id" ] || fail "no scrape entry to show"
expect 0 dlqctl show scrape "$id"
expect 0 dlqctl show scrape big --json
expect 1 dlqctl show scrape 019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1
expect 0 dlqctl groups scrape
expect 0 dlqctl history scrape --window 7d

# The export, byte for byte: Redis' list, oldest first.
dlqctl export scrape >"$work/export.ndjson"
rc --raw LRANGE scrape:dlq 0 -1 | tac >"$work/redis.ndjson"
cmp "$work/export.ndjson" "$work/redis.ndjson" || fail "export differs from what Redis holds"
expect 3 dlqctl export scrape --error "no such failure"

# Changes: a confirmation refused (no terminal, no --yes; and, under
# script(1), a terminal answering n), then done.
n=$(rc LLEN scrape:dlq)
expect 2 dlqctl delete scrape --error products </dev/null
if command -v script >/dev/null; then
	echo n | script -qec "$work/dlqctl delete scrape --error products" /dev/null >"$work/out" 2>&1 || true
	grep -q "not confirmed" "$work/out" || fail "a refused confirmation: $(cat "$work/out")"
fi
[ "$(rc LLEN scrape:dlq)" = "$n" ] || fail "a refused confirmation changed the list"
expect 0 dlqctl retry scrape "$id" --reason "e2e one entry"
expect 0 dlqctl delete scrape big
# A bulk action is an operation: 202, then dlqctl polls its Location (a
# path under /api/v1); --json prints the operation it followed.
expect 0 dlqctl retry extraction --all --yes --json
op_x=$(sed -n 's/^{"id":"\([^"]*\)".*"state":"done".*/\1/p' "$work/out")
[ -n "$op_x" ] || fail "retry extraction --all: $(cat "$work/out")"
expect 0 dlqctl op extraction "$op_x" --json
line "$work/out" "{\"id\":\"$op_x\"" '"action":"retry"' '"state":"done"' || fail "op $op_x: $(cat "$work/out")"
expect 0 dlqctl ops extraction
line "$work/out" "$op_x" retry done || fail "ops extraction: $(cat "$work/out")"
expect 1 dlqctl op extraction 019ac4b2-6f0e-7c3a-9a4e-52a0d7f1f7a1
# On a terminal (under script(1)) the polling draws a progress bar.
if command -v script >/dev/null; then
	script -qec "$work/dlqctl delete scrape --error products --yes --reason 'e2e bulk'" /dev/null >"$work/out" 2>&1 ||
		fail "delete scrape --error products: $(cat "$work/out")"
	grep -q '\] [0-9]*/[0-9]*  handled [0-9]*, failed 0, skipped [0-9]*  done' "$work/out" || fail "no progress bar: $(cat "$work/out")"
else
	expect 0 dlqctl delete scrape --error products --yes --reason "e2e bulk"
fi
expect 3 dlqctl delete scrape --error "no such failure" --yes

# A cancelled operation: 50 entries of the source the demo's requeue
# scrapes successfully (so a requeued entry leaves the DLQ), retried at 2 a
# second, and Ctrl-C once the operation shows progress.
src=067b2fa0-50e4-56cb-805e-a4d5a67ab8a1 # uuid.NewSHA1(uuid.NameSpaceURL, "/products/1"): examples/server/worker.go
now=$(date -u +%Y-%m-%dT%H:%M:%S.000000+00:00)
slow=()
for i in $(seq 10 59); do
	slow+=("{\"id\":\"019ae000-0000-7000-8000-0000000000$i\",\"source_id\":\"$src\",\"job_id\":null,\"error\":\"e2e slow $i\",\"failed_at\":\"$now\",\"retry_count\":0,\"dlq_type\":\"scrape\"}")
done
rc LPUSH scrape:dlq "${slow[@]}" >/dev/null
slow_left() { rc --raw LRANGE scrape:dlq 0 -1 | grep -c '"error":"e2e slow ' || true; }
"$work/dlqctl" retry scrape --error "e2e slow" --rate 2 --yes --reason "e2e slow" --json >"$work/slow.out" 2>"$work/slow.err" &
slow_pid=$!
op=
for _ in $(seq 100); do
	[ -n "$op" ] || op=$(dlqctl ops scrape --ndjson 2>/dev/null | sed -n 's/^{"id":"\([^"]*\)".*"reason":"e2e slow","state":"running".*/\1/p' || true)
	[ -n "$op" ] && dlqctl op scrape "$op" --json >"$work/op.json" && grep -q '"handled":[1-9]' "$work/op.json" && break
	sleep 0.1
done
line "$work/op.json" '"state":"running"' '"handled":' || fail "the slow retry never showed progress (is $src still a source that scrapes fine?): $(cat "$work/op.json" "$work/slow.err" 2>/dev/null)"
kill -INT "$slow_pid"
code=0
wait "$slow_pid" || code=$?
slow_pid=
[ "$code" = 1 ] || fail "a cancelled retry exited $code, want 1: $(cat "$work/slow.out" "$work/slow.err")"
grep -q "cancelling operation $op" "$work/slow.err" || fail "no cancellation: $(cat "$work/slow.err")"
line "$work/slow.out" "{\"id\":\"$op\"" '"state":"cancelled"' || fail "dlqctl's last word: $(cat "$work/slow.out")"
expect 0 dlqctl op scrape "$op" --json
cp "$work/out" "$work/op.json"
line "$work/op.json" '"state":"cancelled"' || fail "op $op: $(cat "$work/op.json")"
count() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$work/op.json"; }
matched=$(count matched) handled=$(count handled) failed=$(count failed) skipped=$(count skipped)
left=$(slow_left)
# Every entry was requeued (and left) or is still in Redis; the operation
# stopped short of the end; nothing is left claimed.
[ "$((left + handled))" = 50 ] && [ "$left" -gt 0 ] && [ "$handled" -gt 0 ] &&
	[ "$((handled + failed + skipped))" -le "$matched" ] && [ "$matched" -le 50 ] ||
	fail "cancelled: $left entries left in Redis; the operation: $(cat "$work/op.json")"
dlqctl ls scrape --error "e2e slow" --all --ndjson >"$work/out"
[ "$(grep -c . "$work/out")" = "$left" ] && ! grep -q '"in_flight":true' "$work/out" ||
	fail "after the cancel: $(cat "$work/out")"
expect 0 dlqctl ops scrape
line "$work/out" "$op" cancelled "$handled" || fail "ops scrape: $(cat "$work/out")"

# The audit log holds every change above, with its reason (the demo names
# no actor).
expect 0 dlqctl audit scrape --ndjson
for want in \
	'"action":"retry"|"reason":"e2e one entry"|"id":"'"$id"'"' \
	'"action":"delete"|"id":"big"' \
	'"action":"op_start"|"reason":"e2e bulk"|"filter":{"error":"products"}' \
	'"action":"op_finish"|"reason":"e2e bulk"|"result":"done"' \
	'"action":"op_start"|"reason":"e2e slow"|"op":"'"$op"'"' \
	'"action":"op_cancel"|"op":"'"$op"'"' \
	'"action":"op_finish"|"op":"'"$op"'"|"handled":'"$handled,"'|"result":"cancelled"'; do
	IFS='|' read -ra parts <<<"$want"
	line "$work/out" "${parts[@]}" || fail "no audit record with $want in $(cat "$work/out")"
done
expect 0 dlqctl audit scrape
line "$work/out" op_finish "op $op" cancelled "e2e slow" || fail "audit scrape: $(cat "$work/out")"
expect 0 dlqctl audit extraction
line "$work/out" op_finish "op $op_x" done || fail "audit extraction: $(cat "$work/out")"
echo "e2e: dlqctl against the demo server: ok"
