from pytest import CaptureFixture

from service.demo import run_demo
from service.ledger.chain import in_process_chain


def test_demo_walks_issue_accept_split_transfer_and_the_tree_sums_to_the_face(
    capsys: CaptureFixture[str],
) -> None:
    assert run_demo(in_process_chain()) == 0
    out = capsys.readouterr().out
    assert "refused with DocumentAlreadyUsed" in out
    assert "live notes sum to USD 1,000,000.00 = the root's face USD 1,000,000.00" in out
