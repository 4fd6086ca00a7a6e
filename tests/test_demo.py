from pytest import CaptureFixture

from service.ledger.chain import in_process_chain
from service.setup.demo import run_demo


def test_demo_walks_issue_accept_split_transfer_discount_and_settlement(
    capsys: CaptureFixture[str],
) -> None:
    assert run_demo(in_process_chain()) == 0
    out = capsys.readouterr().out
    assert "refused with DocumentAlreadyUsed" in out
    assert "live notes sum to USD 1,000,000.00 = the root's face USD 1,000,000.00" in out
    # the bank paid 147,750.00 for the 150,000.00 piece and was paid its face at maturity
    assert "Bearings Inc (tier 2) holds USD 747,750.00 in settlement tokens" in out
    assert "First Bank (financier) holds USD 10,002,250.00 in settlement tokens" in out
    assert (
        "paid USD 1,000,000.00 = the root's face; Acme Motors (core enterprise)'s outstanding is USD 0.00"
        in out
    )
