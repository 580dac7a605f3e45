#!/usr/bin/env bash
# Runs Hotline on this machine: a console with its embedded database, and an agent on this
# machine enrolled to it. Builds in release mode on first use; state stays in ./hotline-data
# (console) and ./hotline-agent-state (agent), so a second run reuses both. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

data=${HOTLINE_DATA:-hotline-data}
state=${HOTLINE_AGENT_STATE:-hotline-agent-state}
bin=target/release

if [ ! -x "$bin/hotline-console" ] || [ ! -x "$bin/hotline-agent" ]; then
    echo "building the release binaries (the first time takes 10 to 15 minutes on a 2-core machine)"
fi
cargo build --release --locked --quiet -p hotline-console -p hotline-agent

first_login="admin, with the password chosen at the first sign-in"
if [ ! -e "$data/hotline.db" ]; then
    init=$("$bin/hotline-console" --data "$data" init)
    echo "$init"
    one_time=$(sed -n 's/^one-time password: //p' <<<"$init")
    first_login="admin / $one_time (one-time: the console asks for a new password at once)"
fi

rm -f "$data/serve.json"
"$bin/hotline-console" --data "$data" serve &
console=$!
agent=""
trap 'kill $agent $console 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 100); do
    [ -e "$data/serve.json" ] && break
    kill -0 "$console" 2>/dev/null || { echo "the console failed to start" >&2; exit 1; }
    sleep 0.1
done

if [ ! -e "$state/device.json" ]; then
    token=$("$bin/hotline-console" --data "$data" enroll-token --expires 10m)
    "$bin/hotline-agent" enroll --state "$state" "$token"
fi
"$bin/hotline-agent" run --state "$state" &
agent=$!

for _ in $(seq 100); do
    "$bin/hotline-console" --data "$data" devices | grep -q " online " && break
    sleep 0.1
done
"$bin/hotline-console" --data "$data" devices

https=$(sed -n 's/.*"https":"\([^"]*\)".*/\1/p' "$data/serve.json")
cat <<MSG

Hotline is running.
  web console:  https://localhost:${https##*:}/
  sign in as:   $first_login
  console CA:   $data/ca.cert.pem (the browser will ask you to trust it)
  devices:      $bin/hotline-console --data $data devices
Press Ctrl-C to stop the console and the agent.
MSG
wait "$console"
