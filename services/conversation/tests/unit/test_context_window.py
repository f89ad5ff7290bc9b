import pytest

from conversation.context_window import PER_MESSAGE_OVERHEAD, Budget, DoesNotFit, fit_history


def test_keeps_newest_history_that_fits():
    budget = Budget(context_window=1000, output_reserve=200)
    # fixed: 2 messages of 100 -> 2*(106+1)=214 used; 586 left; each history msg of 150 costs 157
    kept = fit_history(budget, [100, 100], [150, 150, 150, 150, 150])
    assert kept == 3


def test_everything_fits_when_small():
    assert fit_history(Budget(4096, 512), [10, 10], [5, 5, 5]) == 3


def test_fixed_messages_over_budget_raise():
    with pytest.raises(DoesNotFit) as info:
        fit_history(Budget(1000, 500), [300, 300], [])
    assert info.value.limit == 500


def test_margin_shrinks_what_fits():
    exact = fit_history(Budget(2000, 0), [0], [100] * 30)
    estimated = fit_history(Budget(2000, 0, margin=0.5), [0], [100] * 30)
    assert estimated < exact
    assert exact == (2000 - (PER_MESSAGE_OVERHEAD + 1)) // (100 + PER_MESSAGE_OVERHEAD + 1)
