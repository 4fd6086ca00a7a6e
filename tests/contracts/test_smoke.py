from tests.consortium import Consortium


def test_issued_note_is_pending_with_its_holder(consortium: Consortium) -> None:
    note_id = consortium.issue(amount=500)
    note = consortium.ledger.get_note(note_id)
    assert note.amount == 500
    assert note.holder == consortium.suppliers[0].address


def test_each_test_starts_from_the_same_chain_state(consortium: Consortium) -> None:
    assert consortium.ledger.root_count() == 0
    consortium.issue()
    assert consortium.ledger.root_count() == 1
