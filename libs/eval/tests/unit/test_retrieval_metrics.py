from chatbot_eval import retrieval


def test_evidence_matches_across_case_whitespace_and_table_pipes():
    passages = ["Nothing here.", "| Availability |  99.9%\n| Multi-region deployment |", "later"]
    assert retrieval.first_hit(passages, "availability 99.9% multi-region DEPLOYMENT") == 2
    assert retrieval.first_hit(passages, "99.99%") is None
    assert retrieval.first_hit(passages, "   ") is None


def test_scores_follow_the_rank_of_the_first_hit():
    assert retrieval.per_question(1, 5) == {"recall@1": 1.0, "recall@3": 1.0, "recall@5": 1.0, "mrr@5": 1.0, "ndcg@5": 1.0}
    third = retrieval.per_question(3, 5)
    assert (third["recall@1"], third["recall@3"], third["recall@5"]) == (0.0, 1.0, 1.0)
    assert abs(third["mrr@5"] - 1 / 3) < 1e-9 and abs(third["ndcg@5"] - 0.5) < 1e-9
    assert set(retrieval.per_question(None, 5).values()) == {0.0}
    assert retrieval.per_question(6, 5)["recall@5"] == 0.0


def test_a_mean_leaves_out_what_was_not_measured():
    assert retrieval.mean([1.0, None, 0.0]) == 0.5
    assert retrieval.mean([None]) is None
