# Shared by the runnable examples (sourced, not run): the tool and credential checks, a scratch
# directory, and the helpers that call the gateway. The sourcing script sets EXAMPLE (its name, for
# messages) first; CREDCHAIN_API and CREDCHAIN_CREDENTIALS are read here.

API=${CREDCHAIN_API:-http://127.0.0.1:8000}
CREDS=${CREDCHAIN_CREDENTIALS:-var/demo-credentials.json}
RUN=${CREDCHAIN_RUN_TAG:-$(date -u +%Y%m%d%H%M%S)-$$}

for tool in curl jq date; do
  command -v "$tool" >/dev/null || { echo "$EXAMPLE: $tool is required" >&2; exit 2; }
done
[[ -r $CREDS ]] || { echo "$EXAMPLE: no credentials file at $CREDS (start the demo with make run)" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BODY=$WORK/body

key() { jq -er ".$1.api_key" "$CREDS"; }
id() { jq -er ".$1.id" "$CREDS"; }
auth() { printf 'Authorization: Bearer %s' "$(key "$1")"; }

# call EXPECTED METHOD PATH [curl options...]: the answer's body in $BODY; EXPECTED is a status or
# an alternation (200|201)
call() {
  local expected=$1 method=$2 path=$3 status
  shift 3
  status=$(curl -sS -o "$BODY" -w '%{http_code}' -X "$method" "$API$path" "$@")
  if [[ ! $status =~ ^($expected)$ ]]; then
    echo "FAILED: $method $path answered $status, expected $expected:" >&2
    cat "$BODY" >&2
    echo >&2
    exit 1
  fi
}
step() { printf '\n%s\n' "$*"; }
show() { jq -c "$@" "$BODY"; }

# The chain's time (the demo's clock moves on, so wall time would not do): moving the clock one
# second answers it.
chain_now() {
  call 200 POST /v1/dev/clock -H "$(auth operator)" -H 'Content-Type: application/json' -d '{"seconds": 1}'
  jq -er .block_time "$BODY"
}
iso_at() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
