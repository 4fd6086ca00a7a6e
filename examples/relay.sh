#!/usr/bin/env bash
# The README's "Self-custodied members: signed requests relayed by the gateway", runnable: a new
# member, Pistons Ltd, keeps its own key; Acme issues it a note; Pistons accepts and splits it by
# EIP-712 requests that the gateway relays (and pays the gas for). It starts from its own fresh
# state (a new key, a new member, a new note), so it runs after examples/walkthrough.sh on the
# same gateway, or on its own.
#
# Needs bash, curl, jq, GNU date, the repository's virtualenv (examples/relay_signer.py signs with
# eth-account) and a gateway started by `make run`.
#
#   CREDCHAIN_API          the gateway (default http://127.0.0.1:8000)
#   CREDCHAIN_CREDENTIALS  the demo's credentials file (default var/demo-credentials.json)
#   CREDCHAIN_PYTHON       the Python with eth-account and web3 (default the repository's .venv)
#
# Exits non-zero, printing the answer, at the first status it did not expect.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${CREDCHAIN_PYTHON:-$HERE/../.venv/bin/python}
EXAMPLE=relay
# shellcheck source=examples/lib.sh
source "$HERE/lib.sh"
[[ -x $PYTHON ]] || { echo "relay: no Python at $PYTHON (make run creates .venv; or set CREDCHAIN_PYTHON)" >&2; exit 2; }
signer() { "$PYTHON" "$HERE/relay_signer.py" "$@"; }

# The chain's time (the walkthrough moved the demo's clock on): moving it one second answers it.
NOW=$(chain_now)

step "12. A new key for Pistons Ltd, kept by Pistons; the operator onboards its address (self-custodied)"
read -r MEMBER_KEY PISTONS_ADDR < <(signer key)
export MEMBER_KEY
call '200|201' POST /v1/members -H "$(auth operator)" -H "Idempotency-Key: pistons-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg address "$PISTONS_ADDR" '{name: "Pistons Ltd", roles: ["supplier"], address: $address}')"
show '{id, custody}'
PISTONS_ID=$(jq -er .id "$BODY")
PISTONS=$(jq -er .api_key "$BODY")

step "13. Acme issues it USD 50,000.00; accepting through the usual endpoint is refused"
INVOICE="INV-$RUN-P"
call '200|201' POST /v1/notes -H "$(auth acme)" -H "Idempotency-Key: issue-pistons-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg to "$PISTONS_ID" --arg maturity "$(date -u -d "@$((NOW + 90 * 86400))" +%Y-%m-%dT%H:%M:%SZ)" \
    --arg hash "0x$(printf 'invoice %s' "$INVOICE" | sha256sum | cut -c1-64)" \
    '{to: $to, amount: "5000000", currency: "USD", maturity: $maturity, document_hash: $hash}')"
NOTE=$(jq -er '.note_ids[0]' "$BODY")
call 409 POST "/v1/notes/$NOTE/accept" -H "Authorization: Bearer $PISTONS"
show -r .type

step "14. Pistons encodes the call from the ledger's ABI and has the gateway prepare it"
call 200 POST /v1/relay/prepare -H "Authorization: Bearer $PISTONS" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg data "$(signer calldata accept "[$NOTE]")" '{data: $data}')"
cp "$BODY" "$WORK/typed.json"
show '.domain, (.message | {from, to, gas, nonce, deadline})'

step "15. ... signs it on its own machine and sends it to be relayed"
signer sign "$WORK/typed.json" > "$WORK/relay.json"
call 200 POST /v1/relay -H "Authorization: Bearer $PISTONS" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: pistons-accept-$RUN" -d @"$WORK/relay.json"
show '{tx_hash, note_ids, status: .notes[0].status}'
[[ $(jq -r '.notes[0].status' "$BODY") == active ]] || { echo "FAILED: the note is not active" >&2; exit 1; }
call 409 POST /v1/relay -H "Authorization: Bearer $PISTONS" -H 'Content-Type: application/json' -d @"$WORK/relay.json"
printf 'the same signed request again: '
show -r .type

step "16. A split the same way: keep 30,000.00, pass 20,000.00 to Castings Co"
PARTS=$(jq -nc --argjson note "$NOTE" --arg keep "$PISTONS_ADDR" --arg pass "$(jq -er .castings.address "$CREDS")" \
  '[$note, [[$keep, 3000000], [$pass, 2000000]]]')
call 200 POST /v1/relay/prepare -H "Authorization: Bearer $PISTONS" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg data "$(signer calldata split "$PARTS")" '{data: $data}')"
cp "$BODY" "$WORK/typed.json"
signer sign "$WORK/typed.json" > "$WORK/relay.json"
call 200 POST /v1/relay -H "Authorization: Bearer $PISTONS" -H 'Content-Type: application/json' \
  -H "Idempotency-Key: pistons-split-$RUN" -d @"$WORK/relay.json"
show '.notes[] | {id, holder_member, amount, status}'
[[ $(jq -r '[.notes[].status] | join(" ")' "$BODY") == "split active active" ]] \
  || { echo "FAILED: the note was not split in two" >&2; exit 1; }

printf '\nrelay: done (Pistons Ltd %s accepted and split note %s by relayed requests)\n' "$PISTONS_ID" "$NOTE"
