#!/usr/bin/env bash
# End-to-end run of dlqctl against the demo server (examples/server) over a
# real Redis: every command, a refused confirmation, and an export compared
# byte for byte with what Redis holds.
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
server_pid=
finish() {
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
expect 0 dlqctl retry scrape "$id"
expect 0 dlqctl delete scrape big
expect 0 dlqctl retry extraction --all --yes
expect 0 dlqctl delete scrape --error products --yes
expect 3 dlqctl delete scrape --error "no such failure" --yes
# Operations and audit need the routes of issue 19; on a server without
# them these commands say so (the fake API of dlqctl_test.go covers them,
# a cancelled operation included).
for c in "ops scrape" "audit scrape" "op scrape x"; do
	# shellcheck disable=SC2086
	code=0; dlqctl $c >/dev/null 2>&1 || code=$?
	case $code in 0 | 1) ;; *) fail "dlqctl $c exited $code" ;; esac
done
echo "e2e: dlqctl against the demo server: ok"
