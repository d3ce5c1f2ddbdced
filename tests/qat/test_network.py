"""Tests of SparseQuantNeuralNetwork: validation, shapes, the accumulator guarantee, pruning and export."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from torch import nn
from torch.nn.utils import prune

from veil.qat import SparseQuantNeuralNetwork
from veil.qat._layer_integers import quantized_input
from veil.quantization._bounds import accumulator_bounds, fitting_mask, signed_bit_width

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


def _hammer(model: SparseQuantNeuralNetwork, steps: int = 6, lr: float = 0.5, seed: int = 0) -> None:
    """Train a few steps on wide random data with a large learning rate, pushing weights to extremes."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        x = 4 * torch.randn(64, model.input_dim, generator=generator)
        y = torch.randint(0, model.n_outputs, (64,), generator=generator)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()


# ----------------------------------------------------------------------------------------------------
# the accumulator arithmetic


@pytest.mark.parametrize(
    ("low", "high", "bits"),
    [(0, 0, 1), (-1, 0, 1), (0, 1, 2), (-2, 1, 2), (-128, 127, 8), (-129, 0, 9), (0, 128, 9)],
)
def test_signed_bit_width(low, high, bits):
    assert signed_bit_width(low, high) == bits


@pytest.mark.parametrize(("input_low", "input_high"), [(-4, 3), (-3, 3), (0, 7)])
def test_accumulator_bounds_match_exhaustive_enumeration(input_low, input_high):
    rng = np.random.default_rng(0)
    weights = rng.integers(-3, 4, size=(5, 3))
    inputs = np.array(list(itertools.product(range(input_low, input_high + 1), repeat=3)))
    accumulators = inputs @ weights.T
    low, high = accumulator_bounds(weights, input_low, input_high)
    np.testing.assert_array_equal(low, accumulators.min(axis=0))
    np.testing.assert_array_equal(high, accumulators.max(axis=0))


def test_fitting_mask_keeps_largest_weights_and_fits():
    weights = np.array([[3, -3, 3, 1, -1, 2, 0]])
    mask = fitting_mask(weights, np.abs(weights) - 0.01 * np.arange(7), 0, 7, n_accum_bits=6)
    low, high = accumulator_bounds(weights * mask, 0, 7)
    assert low.min() >= -32 and high.max() <= 31
    # positive side: 3 (21) then 3 would overflow (42), 2 would too (35), 1 fits (28); negative side: -3, -1
    np.testing.assert_array_equal(mask, [[True, True, False, True, True, False, True]])


# ----------------------------------------------------------------------------------------------------
# parameter validation


@pytest.mark.parametrize(
    ("kwargs", "fragments"),
    [
        ({"input_dim": 0}, ["'input_dim'", "an int in the range [1, inf)", "Got 0"]),
        ({"n_layers": -1}, ["'n_layers'", "an int in the range [1, inf)", "Got -1"]),
        ({"n_outputs": 2.5}, ["'n_outputs'", "an int in the range [1, inf)", "Got 2.5"]),
        ({"n_hidden_neurons_multiplier": 0}, ["'n_hidden_neurons_multiplier'", "[1, inf)", "Got 0"]),
        ({"n_w_bits": 1}, ["'n_w_bits'", "an int in the range [2, 8]", "Got 1"]),
        ({"n_a_bits": 9}, ["'n_a_bits'", "an int in the range [2, 8]", "Got 9"]),
        ({"n_accum_bits": 1}, ["'n_accum_bits'", "an int in the range [2, inf)", "None", "Got 1"]),
        ({"n_prune_neurons_percentage": 1.0}, ["'n_prune_neurons_percentage'", "[0.0, 1.0)", "Got 1.0"]),
        ({"n_prune_neurons_percentage": -0.1}, ["'n_prune_neurons_percentage'", "[0.0, 1.0)", "Got -0.1"]),
        ({"activation_function": torch.relu}, ["activation_function", "torch.nn.Module subclass", "relu"]),
        ({"activation_function": nn.ReLU()}, ["activation_function", "torch.nn.Module subclass", "ReLU()"]),
        ({"n_layers": True}, ["'n_layers'", "an int", "Got True"]),
        ({"quant_signed": "yes"}, ["'quant_signed'", "bool", "Got 'yes'"]),
        ({"accumulator_route": "hope"}, ["'accumulator_route'", "'prune'", "Got 'hope'"]),
    ],
)
def test_invalid_parameters_name_expected_and_received(kwargs, fragments):
    arguments = {"input_dim": 4, "n_layers": 2, "n_outputs": 3, **kwargs}
    with pytest.raises(ValueError) as error:
        SparseQuantNeuralNetwork(**arguments)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "minimum"),
    [
        # signed 3-bit input [-4, 3] times weight +-3: +-12 -> 5 bits
        # unsigned 3-bit input after ReLU [0, 7] times +-3: +-21 -> 6 bits
        ({"n_w_bits": 3, "n_a_bits": 3, "activation_function": nn.Tanh}, 5),
        ({"n_w_bits": 3, "n_a_bits": 3, "activation_function": nn.ReLU}, 6),
        # unsigned 4-bit [0, 15] times +-7: 105 -> 8 bits
        ({"n_w_bits": 4, "n_a_bits": 4, "activation_function": nn.ReLU}, 8),
        # one layer: only the signed input; 2 bits [-2, 1] times +-1 reaches +2 -> 3 bits
        ({"n_w_bits": 2, "n_a_bits": 2, "n_layers": 1}, 3),
    ],
)
def test_accumulator_budget_below_one_input_is_rejected_with_the_minimum(kwargs, minimum):
    arguments = {"input_dim": 4, "n_layers": 2, "n_outputs": 3, **kwargs}
    assert SparseQuantNeuralNetwork(**arguments, n_accum_bits=minimum).min_accumulator_bits() == minimum
    with pytest.raises(ValueError, match=f"n_accum_bits must be at least {minimum}.*got {minimum - 1}"):
        SparseQuantNeuralNetwork(**arguments, n_accum_bits=minimum - 1)


# ----------------------------------------------------------------------------------------------------
# architecture


def test_constructor_stores_arguments_and_builds_the_documented_layers():
    model = SparseQuantNeuralNetwork(
        5,
        3,
        2,
        n_hidden_neurons_multiplier=2,
        n_w_bits=4,
        n_accum_bits=8,
        activation_function=nn.GELU,
        min_hidden_neurons=8,
    )
    assert (model.input_dim, model.n_layers, model.n_outputs, model.n_w_bits) == (5, 3, 2, 4)
    assert model.activation_function is nn.GELU
    assert [(layer.in_features, layer.out_features) for layer in model.linears] == [
        (5, 10),
        (10, 10),
        (10, 6),  # 3 partial sums per output: 4 signed 3-bit GELU outputs x 4-bit weights fit in 8 bits
    ]
    assert model.output_groups.n_groups == 3 and model(torch.randn(7, 5)).shape == (7, 2)
    assert all(layer.bias is not None and not layer.bias_quant.is_quant_enabled for layer in model.linears)
    assert all(isinstance(act, nn.GELU) for act in model.activations)
    assert model.input_quant.act_quant.is_signed and model.activation_quants[0].act_quant.is_signed


@pytest.mark.parametrize("n_layers", [1, 2, 4])
def test_forward_shape_and_float_output(n_layers):
    model = SparseQuantNeuralNetwork(input_dim=7, n_layers=n_layers, n_outputs=3)
    out = model(torch.randn(11, 7))
    assert isinstance(out, torch.Tensor) and out.shape == (11, 3)
    model.eval()
    assert model(torch.randn(1, 7)).shape == (1, 3)


def test_relu_gets_unsigned_power_of_two_activation_quantizers():
    model = SparseQuantNeuralNetwork(input_dim=3, n_layers=2, n_outputs=2, n_a_bits=3)
    model(torch.randn(16, 3))
    model.eval()
    activation = model.activation_quants[0].act_quant
    assert not activation.is_signed and int(activation.bit_width()) == 3
    for quantizer in (model.input_quant.act_quant, activation):
        log_scale = torch.log2(quantizer.scale())
        assert torch.equal(log_scale, torch.round(log_scale))
        assert float(quantizer.zero_point()) == 0.0


# ----------------------------------------------------------------------------------------------------
# the accumulator guarantee

ACTIVATIONS = [nn.ReLU, nn.Sigmoid, nn.Tanh, nn.GELU]
# (bits, n_accum_bits, n_layers, activation, route, other arguments): a third of the grid bits 2-4 x
# accumulators 6, 8, 10 x 1-4 layers with every activation, then the other routes and quantizer options.
SWEEP = [
    (bits, accum, layers, ACTIVATIONS[i % 4], "prune", {})
    for i, (bits, accum, layers) in enumerate(itertools.product([2, 3, 4], [6, 8, 10], [1, 2, 3, 4]))
    if i % 3 == 0
] + [
    (3, 6, 3, nn.ReLU, "a2q", {}),
    (3, 8, 2, nn.Tanh, "a2q", {}),
    (3, 6, 3, nn.ReLU, "a2q_plus", {}),
    (4, 9, 2, nn.GELU, "a2q_plus", {}),
    (2, 7, 4, nn.Sigmoid, "a2q_plus", {}),
    (3, 7, 3, nn.Tanh, "prune", {"quant_narrow": True}),
    (3, 7, 2, nn.ReLU, "prune", {"quant_signed": False, "power_of_two_scaling": False}),
    (2, 6, 3, nn.ReLU, "prune", {"n_prune_neurons_percentage": 0.25}),
    (3, 7, 2, nn.GELU, "a2q", {"quant_narrow": True, "power_of_two_scaling": False}),
]


def test_output_budget_and_minimum_width():
    net = SparseQuantNeuralNetwork(input_dim=4, n_layers=3, n_outputs=3, n_accum_bits=5)
    assert net.accumulator_budgets() == [5, 5, 7]  # the output layer feeds no lookup
    # 4 features, at least 32 neurons; the output layer: 3 outputs x 4 partial sums of 9 neurons each
    assert [linear.out_features for linear in net.linears] == [32, 32, 12]
    wide = SparseQuantNeuralNetwork(
        4, 2, 3, n_accum_bits=9, n_hidden_neurons_multiplier=1, min_hidden_neurons=2
    )
    assert wide.accumulator_budgets() == [9, 9]
    assert wide.linears[0].out_features == 4
    assert SparseQuantNeuralNetwork(4, 2, 3, n_accum_bits=6, n_accum_bits_output=6).accumulator_budgets() == [
        6,
        6,
    ]
    with pytest.raises(
        ValueError,
        match=r"'n_accum_bits_output' parameter .* \[2, inf\). Got 1.5",
    ):
        SparseQuantNeuralNetwork(4, 2, 3, n_accum_bits_output=1.5)
    with pytest.raises(ValueError, match="n_accum_bits_output must be at least 4 .*got 3"):
        SparseQuantNeuralNetwork(4, 2, 3, n_accum_bits_output=3)
    with pytest.raises(ValueError, match=r"'min_hidden_neurons' parameter .* \[1, inf\). Got 0"):
        SparseQuantNeuralNetwork(4, 2, 3, min_hidden_neurons=0)


def test_partial_output_sums_let_every_output_read_every_neuron():
    torch.manual_seed(0)
    net = SparseQuantNeuralNetwork(input_dim=4, n_layers=2, n_outputs=3, n_accum_bits=5)
    groups = net.output_groups
    # 3-bit ReLU outputs (0..7) times ternary weights: 9 of them fill a 7-bit output accumulator
    assert (groups.group_size, groups.n_groups, net.linears[-1].out_features) == (9, 4, 12)
    _hammer(net)
    net.on_train_end()
    net.eval()
    weight = net.linears[-1].weight.detach()
    row_group, neuron_group = np.arange(12)[:, None] // 3, np.arange(32)[None, :] // 9
    assert not weight[torch.from_numpy(row_group != neuron_group)].any()  # a row reads its group only
    assert all(w <= b for w, b in zip(net.accumulator_bit_widths(), net.accumulator_budgets(), strict=True))
    reads = [int((weight[k::3] != 0).any(dim=0).sum()) for k in range(3)]
    assert max(reads) > 9  # more neurons than one 7-bit sum could read
    x = torch.randn(6, 4)
    partial = []
    handle = net.linears[-1].register_forward_hook(lambda _m, _i, out: partial.append(out))
    with torch.no_grad():
        totals = net(x)
    handle.remove()
    torch.testing.assert_close(totals, partial[0].reshape(6, 4, 3).sum(dim=1))
    single = SparseQuantNeuralNetwork(input_dim=4, n_layers=2, n_outputs=3, output_partial_sums=False)
    assert single.output_groups.n_groups == 1 and single.linears[-1].out_features == 3


def test_default_accumulator_budget_follows_the_number_of_features():
    assert SparseQuantNeuralNetwork(32, 2, 3).accumulator_budgets() == [4, 7]  # two inputs per neuron
    assert SparseQuantNeuralNetwork(33, 2, 3).accumulator_budgets() == [5, 7]  # four
    # 127 * -128 needs 16 signed bits for a single input: None then takes that minimum, never fails to build.
    wide_bits = SparseQuantNeuralNetwork(4, 2, 3, n_w_bits=8, n_a_bits=8)
    assert wide_bits.n_accum_bits is None  # the argument is kept as given
    assert wide_bits.hidden_accum_bits == wide_bits.min_accumulator_bits() == 16
    with pytest.raises(ValueError, match=r"'n_accum_bits' parameter .* None or .* \[2, inf\). Got 1 "):
        SparseQuantNeuralNetwork(4, 2, 3, n_accum_bits=1)


def test_mid_rise_inputs_follow_the_input_scale_and_default_by_feature_count():
    assert SparseQuantNeuralNetwork(32, 2, 3).uses_mid_rise_inputs is True
    assert SparseQuantNeuralNetwork(33, 2, 3).uses_mid_rise_inputs is False
    with pytest.raises(ValueError, match=r"'mid_rise_inputs' parameter .* 'bool'.* Got 'yes'"):
        SparseQuantNeuralNetwork(4, 2, 3, mid_rise_inputs="yes")
    for mid_rise in (True, False):
        net = SparseQuantNeuralNetwork(4, 2, 3, mid_rise_inputs=mid_rise)
        _hammer(net, steps=305, lr=0.001)  # past the 300 steps of scale statistics: the scale is learned
        scale = float(quantized_input(net.input_quant, 4).scale)  # eval mode: no statistics step
        assert float(net.input_shift) == (0.5 * scale if mid_rise else 0.0)


def _eval_scales(net: SparseQuantNeuralNetwork) -> list[float]:
    return [float(quantized_input(q, linear.in_features).scale) for q, linear in net._layer_inputs()]


def test_training_ends_on_the_scales_of_its_last_step():
    net = SparseQuantNeuralNetwork(4, 2, 3, mid_rise_inputs=True)
    _hammer(net, steps=305, lr=0.001)  # past the scale statistics: the power-of-two scales are learned
    net.train()
    net(torch.zeros(2, 4))  # a training step's forward pass, with no optimizer step after it
    scales = _eval_scales(net)
    # An optimizer step that crosses a log-scale's rounding boundary doubles the scale...
    with torch.no_grad():
        for parameter in net.learned_scales():
            parameter += 1.0
    assert _eval_scales(net) == [2 * scale for scale in scales]
    # ...and the finished model goes back to the scales its last step trained with, shift included.
    net.on_train_end()
    assert _eval_scales(net) == scales
    assert float(net.input_shift) == 0.5 * scales[0]


def test_restoring_step_scales_before_any_training_step_changes_nothing():
    net = SparseQuantNeuralNetwork(4, 2, 3)
    before = [parameter.clone() for parameter in net.learned_scales()]
    net.restore_step_scales()
    assert all(torch.equal(a, b) for a, b in zip(before, net.learned_scales(), strict=True))


def test_training_shorter_than_the_scale_statistics_warns_with_the_steps_missing():
    short = SparseQuantNeuralNetwork(4, 2, 3)
    _hammer(short, steps=20, lr=0.001)
    assert short.statistics_steps_left() == 281  # 300 statistics steps, then the one that learns the scales
    with pytest.warns(ConvergenceWarning, match="stopped 281 optimizer steps before .* raise max_epochs"):
        short.on_train_end()

    trained = SparseQuantNeuralNetwork(4, 2, 3)
    _hammer(trained, steps=301, lr=0.001)
    assert trained.statistics_steps_left() == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        trained.on_train_end()
    # A module loading trained scales (prune's starting point, saved models) has them learned too.
    loaded = SparseQuantNeuralNetwork(4, 2, 3)
    assert loaded.statistics_steps_left() == 301
    loaded.load_state_dict(trained.state_dict())
    assert loaded.statistics_steps_left() == 0


def test_budget_slack_loosens_masks_while_training_and_is_dropped_at_the_end():
    net = SparseQuantNeuralNetwork(16, 2, 3, n_accum_bits=4, min_hidden_neurons=16)
    net.budget_slack_bits = 8
    _hammer(net, steps=3, lr=0.05)
    dense = int(net.linears[0].weight_mask.sum())
    assert dense > 16 * 2 and net.accumulator_bit_widths()[0] > 4  # beyond the real budget while loose
    net.on_train_end()
    assert net.budget_slack_bits == 0
    assert int((net.linears[0].weight != 0).sum()) < dense
    assert net.accumulator_bit_widths()[0] <= 4


@pytest.mark.parametrize(("bits", "n_accum_bits", "n_layers", "activation", "route", "other"), SWEEP)
def test_accumulators_fit_after_aggressive_training(bits, n_accum_bits, n_layers, activation, route, other):
    arguments = {
        "input_dim": 6,
        "n_layers": n_layers,
        "n_outputs": 3,
        "n_w_bits": bits,
        "n_a_bits": bits,
        "n_accum_bits": n_accum_bits,
        "activation_function": activation,
        "accumulator_route": route,
        **other,
    }
    torch.manual_seed(0)
    try:
        model = SparseQuantNeuralNetwork(**arguments)
    except ValueError as error:
        # a budget below one input times one weight is refused up front, never silently exceeded
        assert "n_accum_bits must be at least" in str(error)
        return
    _hammer(model)
    model.on_train_end()
    widths = model.accumulator_bit_widths()
    budgets = model.accumulator_budgets()
    assert budgets == [n_accum_bits] * (n_layers - 1) + [max(n_accum_bits, 7)]
    assert len(widths) == n_layers
    assert all(width <= budget for width, budget in zip(widths, budgets, strict=True))


def test_accumulator_bit_widths_bound_the_real_integer_accumulators():
    """Enumerate every integer input of a small first layer; the reported width is the exact worst case."""
    torch.manual_seed(1)
    model = SparseQuantNeuralNetwork(input_dim=3, n_layers=2, n_outputs=2, n_accum_bits=6)
    _hammer(model)
    model.on_train_end()
    model.eval()
    linear = model.linears[0]
    sample = quantized_input(model.input_quant, 3)
    quant_weight = linear.quant_weight(sample)
    integer_weight = torch.round(quant_weight.value / quant_weight.scale).detach().numpy()
    inputs = np.array(list(itertools.product(range(-4, 4), repeat=3)))
    accumulators = inputs @ integer_weight.T
    assert signed_bit_width(accumulators.min(), accumulators.max()) == model.accumulator_bit_widths()[0] <= 6


def test_a2q_quantizer_is_read_with_the_real_input_format():
    torch.manual_seed(0)
    model = SparseQuantNeuralNetwork(6, 2, 3, n_accum_bits=6, accumulator_route="a2q")
    _hammer(model, steps=10)
    model.on_train_end()
    widths = model.accumulator_bit_widths()
    assert widths[0] <= 6 and widths[1] <= 7


# ----------------------------------------------------------------------------------------------------
# pruning


def test_max_active_neurons_counts_worst_case_inputs():
    bits = {"n_w_bits": 3, "n_a_bits": 3, "n_accum_bits": 8}
    # signed 3-bit input: 127 // (3 * 4) = 10; unsigned 3-bit after ReLU: 127 // (3 * 7) = 6
    assert SparseQuantNeuralNetwork(4, 2, 2, **bits).max_active_neurons() == 6
    assert SparseQuantNeuralNetwork(4, 1, 2, **bits).max_active_neurons() == 10
    # ternary weights, 6-bit accumulators: 31 // (1 * 7) = 4 after ReLU
    ternary = {"n_w_bits": 2, "n_a_bits": 3, "n_accum_bits": 6}
    assert SparseQuantNeuralNetwork(4, 2, 2, **ternary, n_accum_bits_output=6).max_active_neurons() == 4
    # the default 7-bit output budget takes 63 // 7 = 9 after ReLU; the input layer's 31 // 4 = 7 binds
    assert SparseQuantNeuralNetwork(4, 2, 2, **ternary).max_active_neurons() == 7
    # Tanh keeps signed 3-bit activations [-4, 3]: 511 // (3 * 4) = 42
    tanh = SparseQuantNeuralNetwork(4, 2, 2, **{**bits, "n_accum_bits": 10}, activation_function=nn.Tanh)
    assert tanh.max_active_neurons() == 42


def _has_pruning(model: SparseQuantNeuralNetwork) -> bool:
    return any(prune.is_pruned(layer) or hasattr(layer, "weight_mask") for layer in model.linears)


@pytest.mark.parametrize("route", ["prune", "a2q"])
def test_enable_then_make_pruning_permanent(route):
    torch.manual_seed(0)
    percentage = 0.5 if route == "prune" else 0.0
    model = SparseQuantNeuralNetwork(8, 3, 2, n_prune_neurons_percentage=percentage, accumulator_route=route)
    _hammer(model, steps=3, lr=0.05)
    model.enable_pruning()
    model.eval()
    zeros_before = [(layer.weight == 0).clone() for layer in model.linears]
    output_before = model(torch.ones(2, 8))
    model.make_pruning_permanent()
    assert not _has_pruning(model)
    for layer, zeros in zip(model.linears, zeros_before, strict=True):
        assert isinstance(layer.weight, nn.Parameter)
        assert torch.equal(layer.weight == 0, zeros)
    torch.testing.assert_close(model(torch.ones(2, 8)), output_before)
    if route == "prune":
        for layer in model.linears[:-1]:
            dead_neurons = (layer.weight == 0).all(dim=1)
            assert int(dead_neurons.sum()) == layer.out_features // 2


def test_on_train_end_recovers_after_training_past_permanent_pruning():
    torch.manual_seed(0)
    model = SparseQuantNeuralNetwork(6, 2, 3, n_accum_bits=6)
    model.on_train_end()
    _hammer(model, steps=5, lr=1.0)  # no masks anymore: the weights may now overflow
    model.on_train_end()  # reinstalls and recomputes the masks from the current weights
    assert not _has_pruning(model)
    hidden, output = model.accumulator_bit_widths()
    assert hidden <= 6 and output <= 7


def test_state_dicts_load_across_pruning_states():
    torch.manual_seed(0)
    trained = SparseQuantNeuralNetwork(6, 2, 3)
    _hammer(trained, steps=3, lr=0.05)
    masked_state = {key: value.clone() for key, value in trained.state_dict().items()}
    trained.on_train_end()
    trained.eval()
    expected = trained(torch.ones(2, 6))

    fresh = SparseQuantNeuralNetwork(6, 2, 3)  # pruning installed: weight_orig / weight_mask
    fresh.load_state_dict(trained.state_dict())
    fresh.eval()
    torch.testing.assert_close(fresh(torch.ones(2, 6)), expected)

    trained.load_state_dict(masked_state)  # finalized module, state saved mid-training
    assert not _has_pruning(trained)


# ----------------------------------------------------------------------------------------------------
# export


@pytest.mark.parametrize("route", ["prune", "a2q_plus"])
def test_qcdq_onnx_export_after_training(route, tmp_path):
    from brevitas.export import export_onnx_qcdq

    torch.manual_seed(0)
    model = SparseQuantNeuralNetwork(5, 3, 2, accumulator_route=route)
    _hammer(model, steps=3, lr=0.01)
    model.on_train_end()
    model.eval()
    path = tmp_path / "model.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        export_onnx_qcdq(model, args=torch.randn(1, 5), export_path=str(path), dynamo=False)
    import onnx

    graph = onnx.load(str(path)).graph
    op_types = [node.op_type for node in graph.node]
    assert op_types.count("Gemm") == 3 and "QuantizeLinear" in op_types


def test_train_and_eval_reach_every_submodule_even_when_the_network_is_already_in_that_mode():
    net = SparseQuantNeuralNetwork(input_dim=3, n_layers=3, n_outputs=2)
    assert net.eval() is net and not any(module.training for module in net.modules())
    net.train()
    assert all(module.training for module in net.modules())
    net.activation_quants[1].eval()  # one submodule out of step: the next call walks them all again
    net.train()
    assert all(module.training for module in net.modules())


def test_max_hidden_neurons_caps_the_width_over_min_hidden_neurons():
    assert SparseQuantNeuralNetwork(40, 2, 3, max_hidden_neurons=36).linears[0].out_features == 36
    assert SparseQuantNeuralNetwork(40, 2, 3).n_hidden_neurons == 40
    capped = SparseQuantNeuralNetwork(4, 2, 3, min_hidden_neurons=32, max_hidden_neurons=8)
    assert capped.n_hidden_neurons == 8
    with pytest.raises(ValueError, match=r"'max_hidden_neurons' parameter"):
        SparseQuantNeuralNetwork(4, 2, 3, max_hidden_neurons=0)


def test_a_fixed_input_range_sets_the_input_scale_and_is_not_learned():
    net = SparseQuantNeuralNetwork(input_dim=3, n_layers=2, n_outputs=2, n_a_bits=4, input_range=3.0)
    quantized = net.input_quant(torch.tensor([[0.1, 2.9, -9.0]]))
    assert float(quantized.scale) == 3.0 / 8  # 4-bit signed: 8 steps on each side
    np.testing.assert_allclose(quantized.value.detach().numpy(), [[0.0, 2.625, -3.0]])
    assert not list(net.input_quant.parameters())  # nothing for training to move
    assert net.learned_scales() == [p for q in net.activation_quants for p in q.parameters()]
    learned = SparseQuantNeuralNetwork(input_dim=3, n_layers=2, n_outputs=2, n_a_bits=4)
    assert len(list(learned.input_quant.parameters())) == 1
