"""Architecture search spaces from a config file, in Ax's own terms: layers that exist or
not (`dependent_parameters`, a tree of switches), parameter constraints, derived
parameters and parameters as placeholders in `args`; each form reaching Ax, each
refusal one line naming the file and the parameter."""

import pytest
from ax.core.parameter import DerivedParameter, FixedParameter

from nas.component import trial_argv
from nas.config import ConfigError, load_config
from nas.hierarchy import structure
from nas.search_space import make_search_space
from test_config import write_config

SPACE = """
    parameter_constraints = ["head <= width_1"]
    [trial]
    script = "train.py"
    args = ["--log-dir", "{log_dir}", "--layers", "{width_1}", "{width_2}", "{width_3}"]
    omit = ["layer_2", "layer_3"]
    [optimization]
    objective = "accuracy, -params"
    [parameters]
    width_1 = { parameter_type = "int", bounds = [16, 256] }
    head = { parameter_type = "int", bounds = [8, 128] }
    layer_2 = { parameter_type = "bool", values = [false, true], dependent_parameters = { true = ["width_2", "layer_3"] } }
    width_2 = { parameter_type = "int", bounds = [16, 256] }
    layer_3 = { parameter_type = "bool", values = [false, true], dependent_parameters = { true = ["width_3"] } }
    width_3 = { parameter_type = "int", bounds = [16, 256] }
    epochs = { parameter_type = "int", bounds = [1, 4] }
"""


def write(tmp_path, text=SPACE, **replace):
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    return write_config(tmp_path, text)


def test_the_nested_form_is_a_hierarchical_space_with_its_constraint(tmp_path):
    config = load_config(write(tmp_path))
    space = make_search_space(config)
    assert space.is_hierarchical
    assert space.parameters["layer_2"].dependents == {True: ["width_2", "layer_3"]}
    assert space.parameters["layer_3"].dependents == {True: ["width_3"]}
    assert [str(c) for c in space.parameter_constraints] == ["ParameterConstraint(1.0*head + -1.0*width_1 <= 0.0)"]
    assert config.always_active == ["width_1", "head", "layer_2", "epochs"]
    assert config.omit == ("layer_2", "layer_3")


def test_a_derived_parameter_reaches_ax(tmp_path):
    text = SPACE.replace(', dependent_parameters = { true = ["width_2", "layer_3"] }', "").replace(
        ', dependent_parameters = { true = ["width_3"] }', "")
    config = load_config(write(tmp_path, text + '    warmup = { parameter_type = "int", expression_str = "50 * epochs" }\n'))
    warmup = make_search_space(config).parameters["warmup"]
    assert isinstance(warmup, DerivedParameter) and warmup.expression_str == "50 * epochs"


def test_choice_keys_are_the_parameters_values(tmp_path):
    text = SPACE + ('    act = { parameter_type = "str", values = ["relu", "tanh"], '
                    'dependent_parameters = { tanh = ["gain"] } }\n'
                    '    depth = { parameter_type = "int", values = [1, 2], '
                    'dependent_parameters = { 2 = ["extra"] } }\n'
                    '    gain = { parameter_type = "float", bounds = [0.5, 2.0] }\n'
                    '    extra = { parameter_type = "int", bounds = [1, 8] }\n')
    space = make_search_space(load_config(write(tmp_path, text)))
    assert space.parameters["act"].dependents == {"tanh": ["gain"]}
    assert space.parameters["depth"].dependents == {2: ["extra"]}


def argv_of(config, parameters):
    return trial_argv(list(config.args), config.parameter_args, parameters, omit=config.omit,
                      log_dir="/l/3", trial_index=3, data_dir="", cache_dir="", gpus=0)


def test_a_trial_gets_exactly_its_active_parameters(tmp_path):
    config = load_config(write(tmp_path))
    two = {"width_1": 64, "head": 8, "layer_2": True, "width_2": 32, "layer_3": False, "epochs": 2}
    assert argv_of(config, two) == ["--log-dir", "/l/3", "--layers", "64", "32", "--head", "8",
                                    "--epochs", "2"]
    one = {"width_1": 64, "head": 8, "layer_2": False, "epochs": 1}
    assert argv_of(config, one) == ["--log-dir", "/l/3", "--layers", "64", "--head", "8",
                                    "--epochs", "1"]
    assert structure(two, config.parameters) == "layer_2=true, layer_3=false"
    assert structure(one, config.parameters) == "layer_2=false"


def test_placeholders_take_whole_names_and_format_specs():
    argv = trial_argv(["--w={model.width}", "--lr={lr:.1e}"], "--{name} {value}",
                      {"model.width": 32, "lr": 0.00123, "x": 1}, log_dir="/l")
    assert argv == ["--w=32", "--lr=1.2e-03", "--x", "1"]


def test_fixing_a_switch_off_drops_what_it_switches_on(tmp_path):
    config = load_config(write(tmp_path), {"layer_2": "false"})
    space = make_search_space(config)
    assert config.parameter_names == ["width_1", "head", "layer_2", "epochs"]
    assert isinstance(space.parameters["layer_2"], FixedParameter)
    on = load_config(write(tmp_path), {"layer_2": "true", "width_2": "64"})
    space = make_search_space(on)
    assert space.parameters["layer_2"].dependents == {True: ["width_2", "layer_3"]}
    assert space.parameters["width_2"].value == 64
    # an argument of a dropped parameter is left out of every trial
    assert argv_of(config, {"width_1": 64, "head": 8, "layer_2": False, "epochs": 1})[3:] == \
        ["64", "--head", "8", "--epochs", "1"]


BAD = [  # (replacements of SPACE, or extra lines, the words the one line must hold)
    ({'true = ["width_3"]': 'true = ["width_9"]'},
     "parameter 'layer_3': its dependent 'width_9' (under true) is not a parameter"),
    ({'true = ["width_3"]': 'yes = ["width_3"]'},
     "parameter 'layer_3': dependent_parameters key 'yes' is not one of its values (false, true)"),
    ({'true = ["width_3"]': 'true = ["width_2"]'},
     "do not form a tree: width_2 is listed under layer_2 = true and under layer_3 = true"),
    ({'layer_2 = { parameter_type = "bool", values = [false, true], dependent_parameters = { true = ["width_2", "layer_3"] } }':
      'depth = { parameter_type = "int", values = [1, 2, 3], dependent_parameters = { 2 = ["width_2"], 3 = ["width_2", "width_3"] } }',
      'layer_3 = { parameter_type = "bool", values = [false, true], dependent_parameters = { true = ["width_3"] } }': "",
      'omit = ["layer_2", "layer_3"]': ""},
     "width_2 is listed under depth = 2 and under depth = 3; Ax 1.3.1 takes a parameter under "
     "one value of one parent only: nest switches instead"),
    ({'width_1 = { parameter_type = "int", bounds = [16, 256] }':
      'width_1 = { parameter_type = "int", bounds = [16, 256], scaling = "log" }'},
     "parameter constraint 'head <= width_1': width_1 is log-scaled; Ax refuses"),
    ({'"head <= width_1"': '"width_2 <= width_1"'},
     "parameter constraint 'width_2 <= width_1': width_2 is not in every trial (active only "
     "when layer_2 = true)"),
    ({'"head <= width_1"': '"epochs <= layer_2"'},
     "parameter constraint 'epochs <= layer_2': layer_2 is not a range parameter"),
    ({'"head <= width_1"': '"head <=< width_1"'}, "parameter constraint 'head <=< width_1': Ax cannot parse it"),
    ({'"head <= width_1"': '"head <= width_9"'}, "'width_9' is not a parameter"),
    ({'"{width_3}"]': '"{width_4}"]'}, "unknown placeholder {width_4}"),
    ({'omit = ["layer_2", "layer_3"]': 'omit = ["layer_4"]'}, "[trial] omit names 'layer_4', not a parameter"),
    ({}, "derived parameter 'warmup' in a space with dependent_parameters: Ax 1.3.1 cannot",
     '    warmup = { parameter_type = "int", expression_str = "50 * epochs" }\n'),
]


@pytest.mark.parametrize("change, words, extra", [(c, w, e) for c, w, *rest in BAD for e in (rest or [""])])
def test_a_bad_space_is_one_line_naming_the_file(tmp_path, change, words, extra):
    path = write(tmp_path, SPACE + extra, **change)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert words in message and "\n" not in message
    assert str(path) in message


@pytest.mark.parametrize("expression, words", [
    ("50 * epochz", "Parameter epochz is not in the search space"),
    ("epochs * epochs", "Only linear expressions"),
])
def test_a_bad_derived_expression_is_refused(tmp_path, expression, words):
    text = SPACE.replace(', dependent_parameters = { true = ["width_2", "layer_3"] }', "").replace(
        ', dependent_parameters = { true = ["width_3"] }', "")
    path = write(tmp_path, text + f'    warmup = {{ parameter_type = "int", expression_str = "{expression}" }}\n')
    with pytest.raises(ConfigError, match=words):
        load_config(path)


@pytest.mark.parametrize("fix, words", [
    ({"layer_2": "false", "width_2": "64"},
     "--fix width_2=64: width_2 is active only when layer_2 = true, and --fix layer_2=false leaves it out"),
    ({"layer_2": "false", "width_3": "64"},
     "--fix width_3=64: width_3 is active only when layer_2 = true and layer_3 = true, and "
     "--fix layer_2=false leaves it out"),
    ({"head": "16"}, "--fix head=16: head is in the parameter constraint 'head <= width_1'"),
])
def test_a_fix_no_trial_can_have_is_refused(tmp_path, fix, words):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path), fix)
    assert words in error.value.for_command_line()
