from ax.core import ChoiceParameter, FixedParameter, ParameterType, RangeParameter

from nas.search_space import make_search_space


def test_parameters_names_bounds_and_scales():
    params = make_search_space().parameters
    assert set(params) == {"hidden_size_1", "hidden_size_2", "learning_rate", "epochs",
                           "dropout", "batch_size"}
    for name in ("hidden_size_1", "hidden_size_2"):
        p = params[name]
        assert isinstance(p, RangeParameter)
        assert (p.lower, p.upper, p.log_scale, p.parameter_type) == (16, 128, True, ParameterType.INT)
    lr = params["learning_rate"]
    assert (lr.lower, lr.upper, lr.log_scale, lr.parameter_type) == (1e-4, 1e-2, True, ParameterType.FLOAT)
    ep = params["epochs"]
    assert (ep.lower, ep.upper, ep.log_scale, ep.parameter_type) == (1, 4, False, ParameterType.INT)
    dr = params["dropout"]
    assert (dr.lower, dr.upper, dr.log_scale) == (0.0, 0.5, False)


def test_batch_size_is_an_ordered_choice():
    bs = make_search_space().parameters["batch_size"]
    assert isinstance(bs, ChoiceParameter)
    assert bs.is_ordered and bs.values == [32, 64, 128, 256]


def test_max_epochs_one_fixes_epochs():
    ep = make_search_space(max_epochs=1).parameters["epochs"]
    assert isinstance(ep, FixedParameter) and ep.value == 1
    assert make_search_space(max_epochs=2).parameters["epochs"].upper == 2
