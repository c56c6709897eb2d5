"""The search space: the tutorial's six hyperparameters of the MLP and its training."""

from ax.core import ChoiceParameter, FixedParameter, ParameterType, RangeParameter, SearchSpace

BATCH_SIZES = [32, 64, 128, 256]


def make_search_space(max_epochs=4):
    """Widths and learning rate on a log scale; `max_epochs` caps the epochs range."""
    if max_epochs > 1:
        epochs = RangeParameter(name="epochs", lower=1, upper=max_epochs,
                                parameter_type=ParameterType.INT)
    else:  # Ax has no range of one value
        epochs = FixedParameter(name="epochs", value=1, parameter_type=ParameterType.INT)
    return SearchSpace(
        parameters=[
            RangeParameter(name="hidden_size_1", lower=16, upper=128,
                           parameter_type=ParameterType.INT, log_scale=True),
            RangeParameter(name="hidden_size_2", lower=16, upper=128,
                           parameter_type=ParameterType.INT, log_scale=True),
            RangeParameter(name="learning_rate", lower=1e-4, upper=1e-2,
                           parameter_type=ParameterType.FLOAT, log_scale=True),
            epochs,
            RangeParameter(name="dropout", lower=0.0, upper=0.5,
                           parameter_type=ParameterType.FLOAT),
            ChoiceParameter(name="batch_size", values=BATCH_SIZES,
                            parameter_type=ParameterType.INT, is_ordered=True, sort_values=True),
        ]
    )
