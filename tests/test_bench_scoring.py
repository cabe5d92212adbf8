"""Every scorer of the quality bench, on hand-made answers, the tricky ones included."""

import pytest

from rlm_desktop.bench.scoring import (
    ExactName,
    ExactNumber,
    ListF1,
    Needle,
    PairF1,
    TimeOfDay,
    citation_precision,
    numbers,
    pair,
)


def test_numbers_are_whole_numbers_never_pieces_of_others():
    assert numbers("1234567") == [1234567]  # does not contain 34
    assert numbers("There are 1,234 lines and 5 more.") == [1234, 5]
    assert numbers("basalt-704 is 4650560.") == [4650560]  # a key is a name, not 704
    assert numbers("At 12:30:45 there were 7 errors") == [7]  # a time is no count
    assert numbers("3.5 or 2026-03-04") == []  # decimals and dates are no counts
    assert numbers("see [12] and [3]: twelve in all") == [12]  # citation marks are not read
    assert numbers("-3 then 0") == [-3, 0]


@pytest.mark.parametrize(
    ("answer", "score", "read"),
    [
        ("There are 34 such lines.", 1.0, "34"),
        ("1234567", 0.0, "1234567"),  # a substring match would say 1
        ("34567 lines", 0.0, "34567"),
        ("thirty-four", 1.0, "34"),
        ("thirty four-fold", 0.0, "30"),  # "four-fold" is a word of its own
        ("In 2005 there were 34", 0.0, "2005"),  # the first number stated is the answer
        ("34 [1][2]", 1.0, "34"),
        ("no idea", 0.0, "no number"),
    ],
)
def test_an_exact_number_is_the_first_whole_number(answer, score, read):
    result = ExactNumber(34)(answer)
    assert (result.value, result.read) == (score, read)


def test_counts_scored_as_oolong_scores_them():
    assert ExactNumber(10, partial=True)("12 of them").value == pytest.approx(0.75**2)
    assert ExactNumber(10, partial=True)("Ten.").value == 1.0
    assert ExactNumber(17, partial=True)("seventeen").value == 1.0
    assert ExactNumber(99, partial=True)("ninety-nine").value == 1.0
    assert ExactNumber(4, partial=True)("someone said four").value == 1.0
    assert ExactNumber(1234, partial=True)("1,234").value == 1.0
    assert ExactNumber(10, partial=True)("none").value == 0.0


def test_the_needle_is_matched_exactly_and_hedging_with_a_decoy_fails():
    needle = Needle("4650560", decoys=("1111111", "2222222"))
    assert needle("The special magic number for basalt-704 is 4650560. [1]").value == 1.0
    assert needle("It is 46505601.").value == 0.0  # longer number
    assert needle("465056").value == 0.0  # shorter number
    hedged = needle("Either 4650560 or 1111111.")
    assert hedged.value == 0.0 and hedged.read == "1111111"


def test_names_are_whole_words_after_normalisation_and_one_candidate_only():
    name = ExactName("Varn", candidates=("Merrow", "Varn", "Lune"))
    assert name("It is VARN.").value == 1.0
    assert name("the country of  Varn!").value == 1.0
    assert name("Varnish").value == 0.0  # not a substring
    assert name("Varn or Merrow").value == 0.0  # hedging between candidates
    assert name("Lune").read == "Lune"
    assert ExactName("Ysolde")("Ysólde").value == 1.0  # accents off


def test_times_of_day_compare_hours_minutes_and_seconds():
    time = TimeOfDay("06:55:46")
    assert time("It first happened at 6:55:46 on Dec 10.").value == 1.0
    assert time("06:55:47").value == 0.0
    assert time("106:55:46").value == 0.0  # not a time of day
    assert time("Dec 10 06:55:46,747 then 07:00:00").value == 1.0  # the first time counts
    assert time("07:00:00 and 06:55:46").value == 0.0
    written = TimeOfDay("20:36:15", written="203615")  # HDFS writes hhmmss
    assert written("081109 203615 148 INFO").value == 1.0
    assert written("20:36:15").value == 1.0
    assert written("2036150").value == 0.0


def test_lists_score_by_set_precision_recall_and_f1_in_any_order():
    universe = frozenset(
        {"dfs.DataNode", "dfs.DataNode$PacketResponder", "dfs.FSNamesystem", "dfs.FSDataset"}
    )
    scorer = ListF1(frozenset({"dfs.FSNamesystem", "dfs.DataNode$PacketResponder"}), universe)
    reordered = scorer("dfs.DataNode$PacketResponder and dfs.FSNamesystem")
    assert (reordered.value, reordered.precision, reordered.recall) == (1.0, 1.0, 1.0)
    assert scorer("dfs.FSNamesystem, dfs.FSNamesystem, dfs.FSNamesystem").recall == 0.5
    extra = scorer("dfs.FSNamesystem, dfs.DataNode$PacketResponder, dfs.FSDataset.")
    assert extra.precision == pytest.approx(2 / 3) and extra.recall == 1.0
    assert extra.value == pytest.approx(0.8)
    # "dfs.DataNode" is its own component, not a prefix of another one.
    prefix = scorer("dfs.DataNode")
    assert (prefix.value, prefix.read) == (0.0, "dfs.DataNode")
    assert scorer("nothing").value == 0.0


def test_pairs_are_unordered_counted_once_and_never_self_pairs():
    scorer = PairF1(frozenset({pair("1", "2"), pair("1", "3")}))
    assert scorer("(1, 2), (1, 3)").value == 1.0
    assert scorer("(3, 1) and (2,1)").value == 1.0  # reversed
    duplicated = scorer("(1, 2), (2, 1), (1, 2), (3, 3)")  # one distinct pair, a self-pair
    assert (duplicated.precision, duplicated.recall) == (1.0, 0.5)
    assert duplicated.value == pytest.approx(2 / 3)
    wrong = scorer("(1, 2), (1, 3), (4, 5)")
    assert wrong.precision == pytest.approx(2 / 3) and wrong.value == pytest.approx(0.8)
    assert scorer("(12, 3)").value == 0.0  # 12 is not 1 and 2
    names = PairF1(frozenset({pair("dfs.FSNamesystem", "dfs.DataNode$DataXceiver")}))
    assert names("('dfs.datanode$dataxceiver', 'DFS.FSNamesystem')").value == 1.0
    assert PairF1(frozenset())("no pairs").value == 1.0  # nothing expected, nothing named


def test_citation_precision_is_the_share_read():
    assert citation_precision(["read", "in-library", "read", "too-short"]) == 0.5
    assert citation_precision(["not-found"]) == 0.0
    assert citation_precision([]) is None
