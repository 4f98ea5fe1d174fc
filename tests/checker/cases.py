"""One small spec per diagnostic code of the checker: (code, base spec, edits, overrides, backend).

``edits`` are (old, new) replacements applied to the base spec; each case yields exactly
one diagnostic, whose rendered text ``test_codes.py`` pins.
"""

from tests.checker.helpers import ADVERSARIAL, DIGITS, FLOW

# a language model over a token stream (block_size 8: windows of 9 tokens), from DIGITS
STREAM_LM = [
    ("objective classification", "objective language_model"),
    ("data digits {", 'data token_stream {\n  path = "tok"\n  block_size = 8'),
    ("mlp(x: f32[B, 64]) -> f32[B, 10] {", "mlp(tokens: i64[B, T]) -> f32[B, T, 40] {"),
    ("return linear(relu(linear(x, hidden)), 10)", "return linear(embedding(tokens, 40, hidden), 40)"),
    ("target = data.y", "target = data.tokens"),
    ('monitor = "val/accuracy", mode = max', 'monitor = "val/loss"'),
    ("metrics = [accuracy]", "metrics = [perplexity]"),
]

# a flow over an npz file that renders its parameters (data.render) for log_spectral_distance
NPZ_RENDER = [
    (
        "data ksin {\n  k = k\n  signal_length = 16\n  sizes = [64, 16, 16]\n",
        'data npz {\n  path = "d.npz"\n  fields = { params = "f32[4]", signal = "f32[16]" }\n'
        "  render = ksin(signal_length = 16)\n",
    ),
    ("metrics = [chamfer(params_per_token = 2)]", "metrics = [log_spectral_distance]"),
]

# the MLP's hidden layer as two passes of a residual block with dropout (train.remat's repeat)
REPEATED = [
    ("model mlp(", "block residual(x: [B, D]) -> [B, D] {\n  return x + dropout(relu(linear(x, D)), 0.1)\n}\n\nmodel mlp("),
    ("return linear(relu(linear(x, hidden)), 10)", "h = linear(x, hidden)\n  repeat 2 {\n    h = residual(h)\n  }\n  return linear(h, 10)"),
]

CASES = {
    # E03xx names, references, constants, overrides
    "E0301_constant": (DIGITS, [("lr = 1e-3", "lr = hiden")], (), None),
    "E0301_model": (DIGITS, [("model = mlp", "model = mpl")], (), None),
    "E0302": (DIGITS, [("target = data.y", "target = data.yy")], (), None),
    "E0303_let": (DIGITS, [("let hidden = 32", "let hidden = 32\nlet hidden = 64")], (), None),
    "E0303_argument": (FLOW, [("chamfer(params_per_token = 2)", "chamfer(2, params_per_token = 2)")], (), None),
    "E0303_section": (
        DIGITS,
        [("optimizer adam { lr = 1e-3 }", "optimizer adam { lr = 1e-3 }\noptimizer sgd {}")],
        (),
        None,
    ),
    "E0304": (
        DIGITS,
        [("let hidden = 32", "let hidden = 32\nlet rate = base\nlet base = rate / 10"), ("lr = 1e-3", "lr = rate")],
        (),
        None,
    ),
    "E0305_division": (
        DIGITS,
        [("let hidden = 32", "let hidden = 32\nlet rate = 1 / 0"), ("lr = 1e-3", "lr = rate")],
        (),
        None,
    ),
    "E0305_types": (DIGITS, [("lr = 1e-3", 'lr = "fast" * 2')], (), None),
    "E0306_section": (DIGITS, [("optimizer adam", "optimizer adamm")], (), None),
    "E0306_value": (DIGITS, [("metrics = [accuracy]", "metrics = [acurracy]")], (), None),
    "E0307": (DIGITS, [], ("train.max_stepz=5",), None),
    "E0308": (DIGITS, [], ("max_steps",), None),
    "E0309": (DIGITS, [("optimizer adam", "optimiser adam")], (), None),
    "E0310": (DIGITS, [], ("optimizer=[adam]",), None),
    # E04xx keys, types, ranges
    "E0401": (DIGITS, [("{ lr = 1e-3 }", "{ lrr = 1e-3 }")], (), None),
    "E0401_argument": (FLOW, [("euler(steps = 4)", "euler(stepz = 4)")], (), None),
    "E0402": (DIGITS, [("batch_size = 16", 'batch_size = "16"')], (), None),
    "E0403": (DIGITS, [("batch_size = 16", "batch_size = 0")], (), None),
    "E0403_argument": (FLOW, [("euler(steps = 4)", "euler(steps = 0)")], (), None),
    "E0404_argument": (FLOW, [("chamfer(params_per_token = 2)", "chamfer")], (), None),
    "E0404": (FLOW, [("  k = k\n", "")], (), None),
    "E0405": (
        DIGITS,
        [
            (
                "train {\n  max_steps = 20\n  eval_every = 10\n  checkpoint { every = 10, keep = 2, "
                'monitor = "val/accuracy", mode = max }\n}\n',
                "",
            )
        ],
        (),
        None,
    ),
    "E0406": (DIGITS, [("mode = max", "mode = maximum")], (), None),
    "E0407": (
        DIGITS,
        [("data digits {", 'data npz {\n  path = "d.npz"\n  fields = { x = "f32[64", y = "i64[]" }')],
        (),
        None,
    ),
    "E0408": (DIGITS, [("data digits {", "data {")], (), None),
    "E0409": (DIGITS, [("eval {", "distributed {}\n\neval {")], (), None),
    # E05xx cross-field rules
    "E0501": (FLOW, [("warmup = 5", "warmup = 50")], (), None),
    "E0502": (DIGITS, [('monitor = "val/accuracy"', 'monitor = "val/acc"')], (), None),
    "E0503": (DIGITS, [("  eval_every = 10\n", "")], (), None),
    "E0504": (
        FLOW,
        [("batch_size = 8", "batch_size = 8\n  break_symmetry = true\n  shift_test_distribution = true")],
        (),
        None,
    ),
    "E0505": (DIGITS, [("  max_steps = 20\n", "")], (), None),
    "E0506": (FLOW, [("max_steps = 20", "max_epochs = 2")], (), None),
    "E0507": (FLOW, [("schedule warmup_cosine", "schedule other: warmup_cosine")], (), None),
    "E0508": (FLOW, [("sizes = [64, 16, 16]", "sizes = [64, 16]")], (), None),
    "E0509": (DIGITS, [("batch_size = 16", "batch_size = 16\n  coupling = ot")], (), None),
    "E0510": (DIGITS, [("metrics = [accuracy]", "sampler = euler\n  metrics = [accuracy]")], (), None),
    "E0511": (FLOW, [("  sampler = euler(steps = 4)\n", "")], (), None),
    "E0512": (
        ADVERSARIAL,
        [("discriminator: adam { lr = 1e-4 }", "discriminator: adam { lr = 1e-4, models = [generator_net] }")],
        (),
        None,
    ),
    "E0513": (DIGITS, [("max_steps = 20", 'max_steps = 20\n  freeze = ["lienar_1"]')], (), None),
    "E0518": (
        FLOW,
        [
            ("data ksin {\n  k = k\n  signal_length = 16\n", "data synthetic_audio {\n  length = 16\n"),
            (
                "model field(x: f32[B, 2 * k], t: f32[B], signal: f32[B, 16]) -> f32[B, 2 * k] {\n"
                "  c = linear(signal, 8) + sinusoidal(t, 8)\n  return linear(gelu(linear(x, 8) + c), 2 * k)",
                "model field(x: f32[B, 16], t: f32[B]) -> f32[B, 16] {\n"
                "  return linear(gelu(linear(x, 8) + sinusoidal(t, 8)), 16)",
            ),
            ("target = data.params\n  cfg_dropout = 0.1", "target = data.audio"),
            ("metrics = [chamfer(params_per_token = 2)]", "metrics = [log_spectral_distance]"),
        ],
        (),
        None,
    ),
    # E07xx objective contracts
    # issue 13: strings that become file names or names outside the script
    "E0516_width": (DIGITS, [("mode = max }", 'mode = max,\n    filename = "{step:>1000000}" }')], (), None),
    "E0516_character": (DIGITS, [("mode = max }", 'mode = max,\n    filename = "a\\u{0}{step}" }')], (), None),
    "E0516_length": (DIGITS, [("mode = max }", 'mode = max,\n    filename = "{step:>60}{step:>60}{step:>60}{step:>60}{step:>60}" }')], (), None),
    "E0516_rendered": (DIGITS, [("mode = max }", 'mode = max,\n    filename = "{step:.>8}" }')], (), None),
    "E0519": (DIGITS, [("max_steps = 20", 'max_steps = 20\n  warm_start = "runs/a\\u{0}/last"')], (), None),
    "E0519_data": (
        DIGITS,
        [("data digits {", 'data npz {\n  path = ""\n  fields = { x = "f32[64]", y = "i64[]" }')],
        (),
        None,
    ),
    "E0520": (DIGITS, [("max_steps = 20", 'max_steps = 20\n  loggers = [csv, mlflow(experiment = "it\'s")]')], (), None),
    "E0520_wandb": (DIGITS, [("max_steps = 20", 'max_steps = 20\n  loggers = [wandb(project = "team/project")]')], (), None),
    "E0526": (DIGITS, STREAM_LM + [("block_size = 8", 'block_size = 8\n  meta = "tok/meta.pkl"')], (), None),
    "E0528": (DIGITS, [("optimizer adam { lr = 1e-3 }", "optimizer adam {\n  lr = 1e-3\n  weight_decay_on = matrices\n}")], (), None),
    "E0521": (ADVERSARIAL, [("discriminator = critic", "discriminator = training"), ("model critic(", "model training(")], (), None),
    "E0701": (
        DIGITS,
        [
            ("  model = mlp\n", ""),
            ("objective", "model other(x: f32[B, 64]) -> f32[B, 10] {\n" "  return linear(x, 10)\n}\n\nobjective"),
        ],
        (),
        None,
    ),
    "E0702": (FLOW, [("signal: f32[B, 16])", "signal: f32[B, 16], cond: f32[B, 4])")], (), None),
    "E0703": (DIGITS, [("mlp(x: f32[B, 64])", "mlp(x: f32[B, 32])")], (), None),
    "E0703_shift": (DIGITS, [*STREAM_LM[:2], ("mlp(x: f32[B, 64]) -> f32[B, 10] {", "mlp(tokens: i64[B, 9]) -> f32[B, 9, 40] {"), *STREAM_LM[3:]], (), None),
    "E0704": (
        FLOW,
        [("-> f32[B, 2 * k] {", "-> f32[B, 3] {"), ("linear(x, 8) + c), 2 * k)", "linear(x, 8) + c), 3)")],
        (),
        None,
    ),
    "E0704_classes": (DIGITS, [("-> f32[B, 10]", "-> f32[B, 12]"), ("hidden)), 10)", "hidden)), 12)")], (), None),
    "E0705": (DIGITS, [("target = data.y", "target = data.x")], (), None),
    "E0706": (FLOW, [("objective flow_matching", "objective mean_flow")], (), None),
    "E0707": (FLOW, [("t: f32[B], ", ""), (" + sinusoidal(t, 8)", "")], (), None),
    "E0708": (FLOW, [(", signal: f32[B, 16])", ")"), ("linear(signal, 8) + ", "")], (), None),
    "E0709": (FLOW, [("cfg_dropout = 0.1", "cfg_dropout = 0.1\n  inputs = { signl = data.signal }")], (), None),
    "E0710": (ADVERSARIAL, [("critic(x: f32[B, 64])", "critic(x: f32[B, 64], y: f32[B, 64])")], (), None),
    "E0711": (ADVERSARIAL, [("optimizer discriminator:", "optimizer critic:")], (), None),
    "E0713": (
        ADVERSARIAL,
        [("  target = data.audio\n", "  target = data.audio\n  use_adversarial = false\n"), ("optimizer discriminator: adam { lr = 1e-4 }\n", "")],
        (),
        None,
    ),
    "E0712": (
        FLOW,
        [
            ("t: f32[B], signal", "t: f32[B], h: f32[B], signal"),
            ("objective flow_matching", "objective mean_flow"),
            ("  cfg_dropout = 0.1\n", "  time = uniform\n"),
        ],
        (),
        None,
    ),
    "E0714": (DIGITS, [("target = data.y", "target = data.y\n  loss = mse")], (), None),
    "E0715": (DIGITS, [("target = data.y", "target = data.y\n  loss = 2 * cross_entropy")], (), None),
    "E0715_once": (
        DIGITS,
        [
            ("objective classification", "objective language_model"),
            ("data digits {", "data synthetic_tokens {\n  sequence_length = 8"),
            ("mlp(x: f32[B, 64]) -> f32[B, 10] {", "mlp(tokens: i64[B, T]) -> f32[B, T, 40] {"),
            ("return linear(relu(linear(x, hidden)), 10)", "return linear(embedding(tokens, 40, hidden), 40)"),
            ("target = data.y", "target = data.tokens\n  loss = cross_entropy + cross_entropy(ignore_index = 0)"),
            ('monitor = "val/accuracy", mode = max', 'monitor = "val/loss"'),
        ],
        (),
        None,
    ),
    "E0716": (ADVERSARIAL, [("target = data.audio", "target = data.audio\n  kl_weight = 0.1")], (), None),
    "E0717": (DIGITS, STREAM_LM + [("embedding(tokens, 40, hidden)", "positional_embedding(embedding(tokens, 40, hidden), 4)")], (), None),
    "E0718": (FLOW, [("objective flow_matching {", "block l1(p: f32[B, D], q: f32[B, D]) -> f32[] {\n  return mean(abs(linear(p, D) - q), axis = [0, 1])\n}\n\nobjective flow_matching {"), ("cfg_dropout = 0.1", 'cfg_dropout = 0.1\n  loss = graph("l1")')], (), None),
    "E0719": (FLOW, [("objective flow_matching {", "block l1(p: f32[B, D], q: f32[B, D]) -> f32[B] {\n  return mean(abs(p - q), axis = 1)\n}\n\nobjective flow_matching {"), ("cfg_dropout = 0.1", 'cfg_dropout = 0.1\n  loss = graph("l1")')], (), None),
    "E0543": (DIGITS, [('every = 10, keep = 2, monitor = "val/accuracy", mode = max', "enable = false, every = 10")], (), None),
    "E0543_keep_all": (DIGITS, [("keep = 2,", "keep = all,"), (", mode = max", "")], (), None),
    "E0519_dirpath": (DIGITS, [("mode = max }", 'mode = max, dirpath = "." }')], (), None),
    "E0550": (DIGITS, [("  max_steps = 20\n", "  max_steps = 20\n  metrics = [accuracy, mse]\n")], (), None),
    "E0551": (FLOW, [("metrics = [chamfer(params_per_token = 2)]", "metrics = [mse]")], (), None),
    "E0560": (DIGITS, [("  batch_size = 16\n", "  batch_size = 16\n  fake = true\n")], (), None),
    "E0561": (DIGITS, [("  batch_size = 16\n", '  batch_size = 16\n  transforms = [normalize(statistics = "stats.npz")]\n')], (), None),
    "E0561_field": (DIGITS, [("  batch_size = 16\n", '  batch_size = 16\n  transforms = [clip(field = "y")]\n')], (), None),
    "E0585": (DIGITS, [("  max_steps = 20\n", "  max_steps = 20\n  remat = true\n")], (), None),
    "E0586": (DIGITS, REPEATED + [("  max_steps = 20\n", "  max_steps = 20\n  remat = true\n")], (), "mlx"),
    "E0563": (FLOW, [("  batch_size = 8\n", "  batch_size = 8\n  render = ksin(signal_length = 16)\n")], (), None),
    "E0564": (FLOW, NPZ_RENDER + [("render = ksin(signal_length = 16)", 'render = ksin(signal_length = 16, signal_field = "sig")')], (), None),
    "E0564_length": (
        FLOW,
        NPZ_RENDER + [("render = ksin(signal_length = 16)", 'render = ksin(signal_length = 8, signal_field = "signal")')],
        (),
        None,
    ),
    "E0565": (
        FLOW,
        NPZ_RENDER
        + [
            ('params = "f32[4]"', 'params = "f32[3]"'),
            ("model field(x: f32[B, 2 * k], t: f32[B], signal: f32[B, 16]) -> f32[B, 2 * k] {",
             "model field(x: f32[B, 3], t: f32[B], signal: f32[B, 16]) -> f32[B, 3] {"),
            ("return linear(gelu(linear(x, 8) + c), 2 * k)", "return linear(gelu(linear(x, 8) + c), 3)"),
        ],
        (),
        None,
    ),
    "E0566": (ADVERSARIAL, [("  batch_size = 4\n", '  batch_size = 4\n  predict = "inputs.npz"\n')], (), None),
    "E0566_sampler": (
        FLOW,
        [
            ("  batch_size = 8\n", '  batch_size = 8\n  predict = "inputs.npz"\n'),
            ("  sampler = euler(steps = 4)\n  metrics = [chamfer(params_per_token = 2)]\n", ""),
        ],
        (),
        None,
    ),
    "E0567": (DIGITS, [("  batch_size = 16\n", '  batch_size = 16\n  predict = "inputs.csv"\n')], (), None),
    "E0720": (FLOW, [("c = linear(signal, 8) + sinusoidal(t, 8)", "c = linear(signal, 8) + sinusoidal(t, 8) + normal([B, 8])")], (), None),
    # layers that own buffers (batch_norm, running_statistics)
    "E0621": (DIGITS, [("relu(linear(x, hidden))", "relu(batch_norm(linear(x, hidden), momentum = 1.5))")], (), None),
    "E0622": (DIGITS, [("return linear(relu(linear(x, hidden)), 10)", "m = running_statistics(mean(x, axis = 1))\n  return linear(relu(linear(x, hidden)), 10)")], (), None),
    "E0623": (DIGITS, [("return linear(relu(linear(x, hidden)), 10)", "m = batch_norm(mean(x, axis = 0, keepdims = true))\n  return linear(relu(linear(x, hidden)), 10)")], (), None),
    "E0624": (FLOW, [("t: f32[B], signal", "t: f32[B], h: f32[B], signal"), ("objective flow_matching", "objective mean_flow"),
                     ("return linear(gelu(linear(x, 8) + c), 2 * k)", "return linear(gelu(batch_norm(linear(x, 8)) + c), 2 * k)")], (), None),
    "E0625": (DIGITS, [("return linear(relu(linear(x, hidden)), 10)", "h = linear(x, hidden)\n  repeat 2 { h = relu(batch_norm(h)) }\n  return linear(h, 10)"),
                       ("max_steps = 20", "max_steps = 20\n  remat = true")], (), None),
    # E08xx backend capability
    # every backend has every precision now: fp16 is refused in the generator loop only
    "E0801": (ADVERSARIAL, [("max_steps = 10", "max_steps = 10\n  precision = fp16")], (), "mlx"),
    "E0801_lightning": (ADVERSARIAL, [("max_steps = 10", "max_steps = 10\n  precision = fp16")], (), "lightning"),
    "E0801_refusal": (ADVERSARIAL, [("max_steps = 10", "max_steps = 10\n  parallel = sharded")], (), "mlx"),
    "E0804": (ADVERSARIAL, [], (), "jax"),
}


def build(name: str):
    base, edits, overrides, backend = CASES[name]
    text = base
    for old, new in edits:
        assert old in text, f"{name}: {old!r} not in the base spec"
        text = text.replace(old, new, 1)
    return text, overrides, backend
