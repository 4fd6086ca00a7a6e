#!/usr/bin/env bash
# The README's walkthrough (`make run`), runnable: Acme issues a note against an invoice, Gearbox
# accepts and splits it, Castings splits again, the auditor traces the piece, First Bank discounts
# Bearings' piece (DvP), the chain's clock moves to maturity, Acme settles the whole tree, the
# auditor checks every payment; then a credit relationship agreed and withdrawn.
#
# Needs bash, curl, jq and GNU date, and a gateway started by `make run` (the embedded demo: the
# clock step needs /v1/dev/clock). It can run again on the same gateway: every invoice and
# Idempotency-Key carries this run's tag, and dates are taken from the chain's clock.
#
#   CREDCHAIN_API          the gateway (default http://127.0.0.1:8000)
#   CREDCHAIN_CREDENTIALS  the demo's credentials file (default var/demo-credentials.json)
#
# Exits non-zero, printing the answer, at the first status it did not expect.
set -euo pipefail

EXAMPLE=walkthrough
# shellcheck source=examples/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

NOW=$(chain_now)
INVOICE="INV-$RUN"

step "1. Acme issues USD 1,000,000.00 to Gearbox against invoice $INVOICE"
call '200|201' POST /v1/notes -H "$(auth acme)" -H "Idempotency-Key: issue-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg to "$(id gearbox)" --arg maturity "$(iso_at $((NOW + 120 * 86400)))" \
    --arg hash "0x$(printf 'invoice %s' "$INVOICE" | sha256sum | cut -c1-64)" --arg reference "$INVOICE" \
    '{to: $to, amount: "100000000", currency: "USD", maturity: $maturity, document_hash: $hash, reference: $reference}')"
show '{tx_hash, note_ids}'
ROOT=$(jq -er '.note_ids[0]' "$BODY")

step "2. Gearbox accepts"
call 200 POST "/v1/notes/$ROOT/accept" -H "$(auth gearbox)" -H "Idempotency-Key: accept-$RUN"
show '.notes[0].status'
[[ $(jq -r '.notes[0].status' "$BODY") == active ]] || { echo "FAILED: the note is not active" >&2; exit 1; }

step "3. Gearbox keeps 600,000.00 and passes 400,000.00 to Castings Co"
call 200 POST "/v1/notes/$ROOT/split" -H "$(auth gearbox)" -H "Idempotency-Key: split1-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg keep "$(id gearbox)" --arg pass "$(id castings)" \
    '{parts: [{to: $keep, amount: "60000000"}, {to: $pass, amount: "40000000"}]}')"
show .note_ids
PIECE=$(jq -er '.note_ids[-1]' "$BODY")

step "4. Castings splits its piece again, paying Bearings Inc 150,000.00"
call 200 POST "/v1/notes/$PIECE/split" -H "$(auth castings)" -H "Idempotency-Key: split2-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg keep "$(id castings)" --arg pass "$(id bearings)" \
    '{parts: [{to: $keep, amount: "25000000"}, {to: $pass, amount: "15000000"}]}')"
show .note_ids
LEAF=$(jq -er '.note_ids[-1]' "$BODY")

step "5. The auditor traces Bearings' piece back to Acme's invoice"
call 200 GET "/v1/notes/$LEAF/provenance" -H "$(auth auditor)"
show '.ancestors[] | {id, depth, holder_member, amount, status}'

step "6. First Bank quotes Bearings' piece at 4.5% a year (ACT/360)"
call 200 GET "/v1/quotes/discount?note=$LEAF&rate=0.045" -H "$(auth bank)"
show '{days, basis, price, discount}'

step "7. ... and offers that price until a deadline"
call '200|201' POST "/v1/notes/$LEAF/discount-offers" -H "$(auth bank)" -H "Idempotency-Key: offer-$RUN" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg deadline "$(iso_at $((NOW + 3 * 86400)))" '{rate: "0.045", deadline: $deadline}')"
show '.offer | {id, price, discount, rate, basis, status}'
OFFER=$(jq -er '.offer.id' "$BODY")
PRICE=$(jq -er '.offer.price' "$BODY")

step "8. Bearings accepts: the note goes to the bank and the price to Bearings in one transaction (DvP)"
call 200 GET "/v1/settlement-tokens/USD/accounts/$(id bearings)" -H "$(auth bearings)"
BEFORE=$(jq -er .balance "$BODY")
call 200 POST "/v1/discount-offers/$OFFER/accept" -H "$(auth bearings)" -H "Idempotency-Key: accept-offer-$RUN"
show '{tx_hash, status: .offer.status, holder: .notes[0].holder_member}'
[[ $(jq -r '.notes[0].holder_member' "$BODY") == "$(id bank)" ]] || { echo "FAILED: the bank does not hold the note" >&2; exit 1; }
call 200 GET "/v1/settlement-tokens/USD/accounts/$(id bearings)" -H "$(auth bearings)"
show '{balance}'
(( $(jq -er .balance "$BODY") - BEFORE == PRICE )) || { echo "FAILED: Bearings was not paid $PRICE" >&2; exit 1; }

step "9. The embedded chain's clock moves 121 days on (operator only)"
call 200 POST /v1/dev/clock -H "$(auth operator)" -H 'Content-Type: application/json' -d '{"seconds": 10454400}'
show '{block_time_iso}'

step "10. Acme settles the whole tree at maturity: every live leaf's holder is paid its face"
call 200 POST "/v1/roots/$ROOT/settle" -H "$(auth acme)" -H "Idempotency-Key: settle-$RUN"
show '{tx_hashes, notes_paid, total_paid}'
[[ $(jq -r '"\(.notes_paid) \(.total_paid)"' "$BODY") == "3 100000000" ]] || { echo "FAILED: the tree was not paid in full" >&2; exit 1; }

step "11. The auditor sees every piece paid, the money where it should be, and Acme's credit freed"
call 200 GET "/v1/notes/$ROOT/provenance" -H "$(auth auditor)"
show '.tree[] | select(.status != "split") | {id, amount, status, paid_amount}'
[[ $(jq '[.tree[] | select(.status != "split" and .status != "settled")] | length' "$BODY") == 0 ]] \
  || { echo "FAILED: a piece is not settled" >&2; exit 1; }
for m in gearbox castings bearings bank; do
  call 200 GET "/v1/settlement-tokens/USD/accounts/$(id $m)" -H "$(auth auditor)"
  printf '%s %s\n' "$m" "$(jq -r .balance "$BODY")"
done
call 200 GET "/v1/risk/exposure?format=csv" -H "$(auth auditor)"
cat "$BODY"

step "Credit relationships: a second bank may grant Acme credit only once Acme approves it"
call '200|201' POST /v1/members -H "$(auth operator)" -H "Idempotency-Key: bank2-$RUN" -H 'Content-Type: application/json' \
  -d '{"name": "Second Bank", "roles": ["financier"]}'
BANK2=$(jq -er .id "$BODY")
BANK2_KEY=$(jq -er .api_key "$BODY")
call 409 POST /v1/credit-limits -H "Authorization: Bearer $BANK2_KEY" -H 'Content-Type: application/json' \
  -d "$(jq -n --arg obligor "$(id acme)" '{obligor: $obligor, amount: "0"}')"
show -r .type
call '200|201' POST /v1/credit-relationships -H "$(auth acme)" -H "Idempotency-Key: approve-bank2-$RUN" \
  -H 'Content-Type: application/json' -d "$(jq -n --arg financier "$BANK2" '{financier: $financier}')"
show '.relationship | {status, grant}'
call 200 DELETE "/v1/credit-relationships/$BANK2" -H "$(auth acme)"
show -r .relationship.status

printf '\nwalkthrough: done (invoice %s, root note %s settled)\n' "$INVOICE" "$ROOT"
