"""The chaos accounting itself (pure): a loss is a loss, whatever else was dead-lettered."""

from __future__ import annotations

from chaos_harness import tally
from connector_env import product_mutations


def test_a_dead_letter_accounts_only_for_the_record_it_holds() -> None:
    published = product_mutations(3, 1)  # three entities, version 1 each
    a, b, c = ((m.entity_uuid, m.version or 0) for m in published)
    # b was handled and also dead-lettered (a redelivery that failed); c was lost.
    handled = [(*a, 1), (*b, 1)]

    lost = tally("lost", published, handled, [b], committed_equals_end=True)
    dead_lettered = tally("dead", published, handled, [c], committed_equals_end=True)

    assert (lost.missing, lost.unexpected, lost.exact) == (1, 1, False), lost.report()
    assert (dead_lettered.handled, dead_lettered.dead_lettered) == (2, 1)
    assert dead_lettered.exact, dead_lettered.report()


def test_redeliveries_are_counted_once_and_reported() -> None:
    published = product_mutations(1, 2)
    uuid = published[0].entity_uuid
    # both versions handled by one member, then again by the next after a SIGKILL
    handled = [(uuid, 1, 10), (uuid, 2, 10), (uuid, 1, 11), (uuid, 2, 11)]

    accounting = tally("redelivery", published, handled, [], committed_equals_end=True)

    assert (accounting.handled, accounting.redelivered, accounting.missing) == (2, 2, 0)
    assert accounting.order_violations == 0
    assert accounting.exact, accounting.report()
