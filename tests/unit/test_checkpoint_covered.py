"""The ``covered`` encoding of checkpoint entries (handlers/checkpoint.py): exact, compact,
and still reading the decimal form 0.2.0 wrote."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.checkpoint import (
    COVERED,
    COVERED_BYTES,
    CheckpointStore,
    CoveredTooLarge,
    check_covered,
    covered_numbers,
    decode_covered,
    encode_covered,
)

START = 10**20  # DynamoDB sequence numbers: 21 to 40 digits
gaps = st.lists(st.integers(min_value=1, max_value=10**19), max_size=60)


def increasing(start: int, steps: list[int]) -> list[int]:
    out, seq = [], start
    for step in steps:
        seq += step
        out.append(seq)
    return out


@given(gaps)
def test_a_list_decodes_to_exactly_the_sequence_numbers_encoded(steps: list[int]) -> None:
    later = increasing(START, steps)
    text = encode_covered(START, later)
    assert decode_covered(str(START), text) == [str(s) for s in later]
    assert covered_numbers(str(START), text) == later
    item = {COVERED: {"S": text}} if text else {}
    assert CheckpointStore.covered(item, str(START)) == [str(s) for s in later]


@given(gaps, st.data())
def test_any_part_of_a_batch_encodes_no_longer_than_the_whole(
    steps: list[int], data: st.DataObject
) -> None:
    """What lets run_batch check only the whole batch's list (check_covered): an entry at
    any record of the batch covers some of the records after it."""
    later = increasing(START, steps)
    i = data.draw(st.integers(min_value=0, max_value=len(later)))
    start = ([START, *later])[i]
    part = sorted(data.draw(st.lists(st.sampled_from(later[i:]), unique=True)) if later[i:] else [])
    assert len(encode_covered(start, part)) <= len(encode_covered(START, later))


def test_the_text_is_plus_then_each_gap_in_hex() -> None:
    # stored in checkpoint items that live two days: the form never changes
    assert encode_covered(100, [110, 365, 365, 300]) == "+a,ff,0,-41"
    assert encode_covered(100, []) == ""


@given(st.integers(min_value=0, max_value=10**40), st.lists(st.integers(0, 10**40), max_size=40))
def test_any_list_encodes_as_the_gaps_written_with_format(start: int, later: list[int]) -> None:
    """In any order (a gap may be 0 or negative), the same text as ``format(gap, "x")``."""
    gaps = [format(b - a, "x") for a, b in zip([start, *later], later, strict=False)]
    assert encode_covered(start, later, limit=None) == ("+" + ",".join(gaps) if later else "")
    text = encode_covered(start, later, limit=None)
    assert covered_numbers(str(start), text) == later  # any order decodes back
    assert decode_covered(str(start), text) == [str(s) for s in later]


def test_the_decimal_form_of_0_2_0_is_still_read() -> None:
    old = "100000000000000000101,100000000000000000205"
    assert decode_covered(str(START), old) == old.split(",")
    assert covered_numbers(str(START), old) == [int(s) for s in old.split(",")]
    assert CheckpointStore.covered({COVERED: {"S": old}}, str(START)) == old.split(",")


def test_a_full_batch_at_realistic_gaps_is_a_fraction_of_the_decimal_list() -> None:
    later = increasing(START, [(i * 7919) % 10**9 + 1 for i in range(9_999)])
    text = encode_covered(START, later)
    assert len(text) <= 9_999 * 9
    assert len(",".join(map(str, later))) >= 9_999 * 21


def test_a_list_past_the_limit_names_the_batch_size_and_what_to_lower() -> None:
    later = increasing(START, [16**12] * 9_999)  # gaps of 13 hex digits: 14 bytes a record
    with pytest.raises(CoveredTooLarge, match=r"batch of 10000 records.*batch_size.*7142"):
        encode_covered(START, later)
    with pytest.raises(CoveredTooLarge):
        check_covered(START, later[-1], len(later), lambda: later)
    fits = later[: COVERED_BYTES // 14 - 1]
    check_covered(START, fits[-1], len(fits), lambda: fits)


def test_an_entry_covers_the_later_records_of_its_batch_up_to_its_progress() -> None:
    """``handlers.batch.covered_after``: records after the entry's own, at most ``through``,
    in batch order (whatever that order is)."""
    from handlers.batch import Batch, Budget, covered_after
    from handlers.stream import parse_event
    from tests import factories

    seqs = [START + d for d in (0, 50, 30, 200, 300)]
    records = parse_event(factories.event([factories.record(seq=s) for s in seqs]))
    batch = Batch(records, records[0].stream_arn, Budget(None))
    assert covered_after(batch, 0, seqs[-1]) == encode_covered(seqs[0], seqs[1:])
    assert covered_after(batch, 0, START + 40) == encode_covered(seqs[0], [START + 30])
    assert covered_after(batch, 1, START + 200) == encode_covered(seqs[1], seqs[2:4])
    assert covered_after(batch, 4, seqs[-1]) == ""
