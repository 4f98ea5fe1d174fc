"""Every checker diagnostic code: its exact rendered text (message, position, caret, help).

The specs are in ``cases.py``; each yields exactly one diagnostic.
"""

from pathlib import Path

import pytest

from tests.checker.cases import CASES, build
from tests.checker.helpers import DIGITS, rendered, run

EXPECTED = {
    "E0301_constant": (
        "spec.mf:17:23: error[E0301]: undefined name `hiden` (expected a float)\n"
        "   |\n"
        "17 | optimizer adam { lr = hiden }\n"
        "   |                       ^^^^^\n"
        "help: did you mean `hidden`?"
    ),
    "E0301_model": (
        "spec.mf:13:11: error[E0301]: undefined model `mpl`\n"
        "   |\n"
        "13 |   model = mpl\n"
        "   |           ^^^\n"
        "help: did you mean `mlp`?"
    ),
    "E0302": (
        "spec.mf:14:12: error[E0302]: unknown reference `data.yy`\n"
        "   |\n"
        "14 |   target = data.yy\n"
        "   |            ^^^^^^^\n"
        "help: did you mean `data.y`?"
    ),
    "E0303_let": (
        "spec.mf:3:5: error[E0303]: duplicate definition of constant `hidden`\n"
        "  |\n"
        "3 | let hidden = 64\n"
        "  |     ^^^^^^\n"
        "note: first defined at spec.mf:2:5"
    ),
    "E0303_argument": (
        "spec.mf:32:25: error[E0303]: argument `params_per_token` of metric `chamfer` is given by position and by name\n"
        "   |\n"
        "32 |   metrics = [chamfer(2, params_per_token = 2)]\n"
        "   |                         ^^^^^^^^^^^^^^^^"
    ),
    "E0303_section": (
        "spec.mf:18:1: error[E0303]: duplicate definition of section `optimizer`\n"
        "   |\n"
        "18 | optimizer sgd {}\n"
        "   | ^^^^^^^^^\n"
        "note: first defined at spec.mf:17:1"
    ),
    "E0304": (
        "spec.mf:3:12: error[E0304]: constant `base` is defined in terms of itself\n"
        "  |\n"
        "3 | let rate = base\n"
        "  |            ^^^^"
    ),
    "E0305_division": (
        "spec.mf:3:12: error[E0305]: division by zero in a constant expression\n"
        "  |\n"
        "3 | let rate = 1 / 0\n"
        "  |            ^^^^^"
    ),
    "E0305_types": (
        "spec.mf:17:23: error[E0305]: cannot apply `*` to a string and an int\n"
        "   |\n"
        '17 | optimizer adam { lr = "fast" * 2 }\n'
        "   |                       ^^^^^^^^^^"
    ),
    "E0306_section": (
        "spec.mf:17:11: error[E0306]: unknown optimizer `adamm`\n"
        "   |\n"
        "17 | optimizer adamm { lr = 1e-3 }\n"
        "   |           ^^^^^\n"
        "help: did you mean `adam`?"
    ),
    "E0306_value": (
        "spec.mf:26:14: error[E0306]: unknown metric `acurracy`\n"
        "   |\n"
        "26 |   metrics = [acurracy]\n"
        "   |              ^^^^^^^^\n"
        "help: did you mean `accuracy`?"
    ),
    "E0307": (
        "--set:1:1: error[E0307]: unknown override path `train.max_stepz`\n"
        "  |\n"
        "1 | train.max_stepz=5\n"
        "  | ^^^^^^^^^^^^^^^\n"
        "help: did you mean `train.max_steps`?"
    ),
    "E0310": (
        "--set:1:11: error[E0310]: `--set optimizer=...` replaces the section's component: write its name or a call such as `optimizer=adam(key = value)`\n"
        "  |\n"
        "1 | optimizer=[adam]\n"
        "  |           ^^^^^^"
    ),
    "E0308": (
        "--set:1:1: error[E0308]: malformed override `max_steps`\n"
        "  |\n"
        "1 | max_steps\n"
        "  | ^^^^^^^^^\n"
        "help: write --set path=value, e.g. --set train.max_steps=100"
    ),
    "E0309": (
        "spec.mf:17:1: error[E0309]: unknown section `optimiser` at the top level\n"
        "   |\n"
        "17 | optimiser adam { lr = 1e-3 }\n"
        "   | ^^^^^^^^^\n"
        "help: did you mean `optimizer`?"
    ),
    "E0401": (
        "spec.mf:17:18: error[E0401]: unknown key `lrr` in optimizer adam\n"
        "   |\n"
        "17 | optimizer adam { lrr = 1e-3 }\n"
        "   |                  ^^^\n"
        "help: did you mean `lr`?"
    ),
    "E0401_argument": (
        "spec.mf:31:19: error[E0401]: unknown argument `stepz` in sampler euler\n"
        "   |\n"
        "31 |   sampler = euler(stepz = 4)\n"
        "   |                   ^^^^^\n"
        "help: did you mean `steps`?"
    ),
    "E0402": (
        'spec.mf:5:16: error[E0402]: `batch_size` expects an integer, found string `"16"`\n'
        "  |\n"
        '5 |   batch_size = "16"\n'
        "  |                ^^^^"
    ),
    "E0403": (
        "spec.mf:5:16: error[E0403]: `batch_size` must be >= 1, found 0\n"
        "  |\n"
        "5 |   batch_size = 0\n"
        "  |                ^"
    ),
    "E0403_argument": (
        "spec.mf:31:27: error[E0403]: `steps` must be >= 1, found 0\n"
        "   |\n"
        "31 |   sampler = euler(steps = 0)\n"
        "   |                           ^"
    ),
    "E0404_argument": (
        "spec.mf:32:14: error[E0404]: missing required argument `params_per_token` in metric chamfer\n"
        "   |\n"
        "32 |   metrics = [chamfer]\n"
        "   |              ^^^^^^^"
    ),
    "E0404": (
        "spec.mf:4:1: error[E0404]: missing required key `k` in data ksin\n" "  |\n" "4 | data ksin {\n" "  | ^^^^"
    ),
    "E0405": (
        "spec.mf:1:1: error[E0405]: the spec has no `train` section\n"
        "  |\n"
        "1 | spec digits_small\n"
        "  | ^\n"
        "help: add `train { ... }` (training policy)"
    ),
    "E0406": (
        "spec.mf:22:71: error[E0406]: `mode` must be one of min, max; found `maximum`\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = maximum }\n'
        "   |                                                                       ^^^^^^^\n"
        "help: did you mean `max`?"
    ),
    "E0407": (
        "spec.mf:6:18: error[E0407]: invalid tensor type 'f32[64' for field `x`\n"
        "  |\n"
        '6 |   fields = { x = "f32[64", y = "i64[]" }\n'
        "  |                  ^^^^^^^^\n"
        'help: write a dtype and a shape: "f32[64]", "i64[]" (dtypes: f32, i32, i64, bool)'
    ),
    "E0408": (
        "spec.mf:4:1: error[E0408]: section `data` needs a data source: `data <name> { ... }`\n"
        "  |\n"
        "4 | data {\n"
        "  | ^^^^\n"
        "help: expected one of: ksin, digits, synthetic_regression, npz, npy, hdf5, synthetic_audio, wav_folder, token_stream, synthetic_tokens, python"
    ),
    "E0409": (
        "spec.mf:25:1: error[E0409]: section `distributed` is reserved for a later version of specc\n"
        "   |\n"
        "25 | distributed {}\n"
        "   | ^^^^^^^^^^^"
    ),
    "E0501": (
        "spec.mf:23:35: error[E0501]: warmup (50 steps) must be below the total steps (20)\n"
        "   |\n"
        "23 | schedule warmup_cosine { warmup = 50 }\n"
        "   |                                   ^^"
    ),
    "E0502": (
        "spec.mf:22:48: error[E0502]: checkpoint monitors `val/acc`, which is never logged\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/acc", mode = max }\n'
        "   |                                                ^^^^^^^^^\n"
        "help: did you mean `val/accuracy`?"
    ),
    "E0503": (
        "spec.mf:21:3: error[E0503]: checkpoint monitors `val/accuracy` but the run never evaluates\n"
        "   |\n"
        '21 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max }\n'
        "   |   ^^^^^^^^^^\n"
        "help: set `eval_every` in `train`"
    ),
    "E0504": (
        "spec.mf:10:29: error[E0504]: shift_test_distribution cannot be combined with break_symmetry\n"
        "   |\n"
        "10 |   shift_test_distribution = true\n"
        "   |                             ^^^^\n"
        "note: the shifted test distribution draws frequencies that break_symmetry would remap"
    ),
    "E0505": (
        "spec.mf:19:1: error[E0505]: the training run has no length\n"
        "   |\n"
        "19 | train {\n"
        "   | ^^^^^\n"
        "help: set `max_steps` or `max_epochs` in `train`"
    ),
    "E0506": (
        "spec.mf:23:1: error[E0506]: schedule `warmup_cosine` needs `total`: the run is given in epochs, not steps\n"
        "   |\n"
        "23 | schedule warmup_cosine { warmup = 5 }\n"
        "   | ^^^^^^^^\n"
        "help: set `total = <steps>` in the schedule"
    ),
    "E0507": (
        "spec.mf:23:1: error[E0507]: schedule `schedule.other` has no optimizer `optimizer.other`\n"
        "   |\n"
        "23 | schedule other: warmup_cosine { warmup = 5 }\n"
        "   | ^^^^^^^^\n"
        "help: did you mean `optimizer`?"
    ),
    "E0508": (
        "spec.mf:7:11: error[E0508]: `sizes` needs 3 values (train, val, test), found 2\n"
        "  |\n"
        "7 |   sizes = [64, 16]\n"
        "  |           ^^^^^^^^"
    ),
    "E0509": (
        "spec.mf:6:14: error[E0509]: coupling = ot pairs noise with data and needs a flow objective, not `classification`\n"
        "  |\n"
        "6 |   coupling = ot\n"
        "  |              ^^"
    ),
    "E0510": (
        "spec.mf:26:13: error[E0510]: objective `classification` does not generate samples: `sampler` does not apply\n"
        "   |\n"
        "26 |   sampler = euler\n"
        "   |             ^^^^^"
    ),
    "E0511": (
        "spec.mf:31:14: error[E0511]: metric `chamfer` compares generated samples: set `sampler` in `eval`\n"
        "   |\n"
        "31 |   metrics = [chamfer(params_per_token = 2)]\n"
        "   |              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: e.g. sampler = euler(steps = 50)"
    ),
    "E0512": (
        "spec.mf:24:1: error[E0512]: model `generator_net` is updated by `optimizer.generator` and by `optimizer.discriminator`\n"
        "   |\n"
        "24 | optimizer discriminator: adam { lr = 1e-4, models = [generator_net] }\n"
        "   | ^^^^^^^^^\n"
        "help: give each optimizer its models: models = [<model>]"
    ),
    "E0513": (
        "spec.mf:21:13: error[E0513]: freeze `lienar_1` matches no parameter\n"
        "   |\n"
        '21 |   freeze = ["lienar_1"]\n'
        "   |             ^^^^^^^^^^\n"
        "help: did you mean `linear_1`?"
    ),
    "E0518": (
        'spec.mf:29:14: error[E0518]: metric `log_spectral_distance` compares signals rendered from the samples; data source `synthetic_audio` cannot render signals\n'
        '   |\n'
        '29 |   metrics = [log_spectral_distance]\n'
        '   |              ^^^^^^^^^^^^^^^^^^^^^\n'
        'help: data sources that can: ksin; or say how in `data`: render = ksin(signal_length = ...) or render = python("synth.py", "render")'
    ),
    "E0516_width": (
        'spec.mf:23:16: error[E0516]: checkpoint filename field `{step:>1000000}` asks for a width or precision above 64\n'
        '   |\n'
        '23 |     filename = "{step:>1000000}" }\n'
        '   |                ^^^^^^^^^^^^^^^^^'
    ),
    "E0516_character": (
        'spec.mf:23:16: error[E0516]: checkpoint filename "a\\u{0}{step}" holds the character U+0000\n'
        '   |\n'
        '23 |     filename = "a\\u{0}{step}" }\n'
        '   |                ^^^^^^^^^^^^^^'
    ),
    "E0516_length": (
        'spec.mf:23:16: error[E0516]: checkpoint filename `{step:>60}{step:>60}{step:>60}{step:>60}{step:>60}` can name a folder of 300 bytes; a file name holds at most 255\n'
        '   |\n'
        '23 |     filename = "{step:>60}{step:>60}{step:>60}{step:>60}{step:>60}" }\n'
        '   |                ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^'
    ),
    "E0516_rendered": (
        'spec.mf:23:16: error[E0516]: checkpoint filename `{step:.>8}` can name the folder `.......0`, which cannot be used\n'
        '   |\n'
        '23 |     filename = "{step:.>8}" }\n'
        '   |                ^^^^^^^^^^^^'
    ),
    "E0519": (
        'spec.mf:21:16: error[E0519]: `warm_start` holds the character U+0000, which no path can hold: the script could not open "runs/a\\u{0}/last"\n'
        '   |\n'
        '21 |   warm_start = "runs/a\\u{0}/last"\n'
        '   |                ^^^^^^^^^^^^^^^^^^'
    ),
    "E0519_data": (
        'spec.mf:5:10: error[E0519]: `path` is empty: the script could not open ""\n'
        '  |\n'
        '5 |   path = ""\n'
        '  |          ^^'
    ),
    "E0520": (
        'spec.mf:21:39: error[E0520]: mlflow `experiment` "it\'s" is not a name every logger library accepts\n'
        '   |\n'
        '21 |   loggers = [csv, mlflow(experiment = "it\'s")]\n'
        '   |                                       ^^^^^^\n'
        'help: use 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or digit'
    ),
    "E0520_wandb": (
        'spec.mf:21:30: error[E0520]: wandb `project` "team/project" is not a name every logger library accepts\n'
        '   |\n'
        '21 |   loggers = [wandb(project = "team/project")]\n'
        '   |                              ^^^^^^^^^^^^^^\n'
        'help: use 1 to 128 letters, digits, `_`, `.` or `-`, starting with a letter or digit'
    ),
    "E0521": (
        'spec.mf:19:19: error[E0521]: model name `training` is taken by `torch.nn.Module`: with several models, the name holds the model in PyTorch and prefixes its parameters\n'
        '   |\n'
        '19 |   discriminator = training\n'
        '   |                   ^^^^^^^^\n'
        'help: rename the model (e.g. `training_net`)'
    ),
    "E0526": (
        'spec.mf:7:10: error[E0526]: `tok/meta.pkl` is a pickle, which specc does not read (loading one runs code from the file)\n'
        '  |\n'
        '7 |   meta = "tok/meta.pkl"\n'
        '  |          ^^^^^^^^^^^^^^\n'
        'help: write the vocabulary size as JSON: {"vocab_size": N}'
    ),
    "E0528": (
        "spec.mf:19:21: error[E0528]: `weight_decay_on = matrices` has no effect: `weight_decay` is 0 (the default of `adam`)\n"
        "   |\n"
        "19 |   weight_decay_on = matrices\n"
        "   |                     ^^^^^^^^\n"
        "help: set `weight_decay` (nanoGPT decays its matrices by 0.1), or remove `weight_decay_on`"
    ),
    "E0701": (
        "spec.mf:16:11: error[E0701]: objective `classification` needs `model = <name>`: the spec has 2 models\n"
        "   |\n"
        "16 | objective classification {\n"
        "   |           ^^^^^^^^^^^^^^"
    ),
    "E0702": (
        "spec.mf:17:11: error[E0702]: input `cond` of model `field` is not fed: no data field `cond` and objective `flow_matching` does not supply it\n"
        "   |\n"
        "17 |   model = field\n"
        "   |           ^^^^^\n"
        "help: bind it: inputs = { cond = data.<field> } (fields: params, signal)"
    ),
    "E0703": (
        "spec.mf:13:11: error[E0703]: model `mlp` declares input `x` as f32[B, 32], but data.x is f32[B, 64]\n"
        "   |\n"
        "13 |   model = mlp\n"
        "   |           ^^^"
    ),
    "E0703_shift": (
        'spec.mf:15:11: error[E0703]: model `mlp` declares input `tokens` as i64[B, 9], but data.tokens[:, :-1] is i64[B, 8]\n'
        '   |\n'
        '15 |   model = mlp\n'
        '   |           ^^^\n'
        'help: objective `language_model` feeds every position but the last (data.tokens[:, :-1]) and predicts data.tokens[:, 1:]: declare i64[B, 8]'
    ),
    "E0704": (
        "spec.mf:17:11: error[E0704]: objective `flow_matching` needs an output shaped like the target f32[B, 4]; model `field` returns f32[B, 3]\n"
        "   |\n"
        "17 |   model = field\n"
        "   |           ^^^^^"
    ),
    "E0704_classes": (
        "spec.mf:13:11: error[E0704]: the labels have 10 classes; model `mlp` returns f32[B, 12] (12 logits per row)\n"
        "   |\n"
        "13 |   model = mlp\n"
        "   |           ^^^"
    ),
    "E0705": (
        "spec.mf:14:12: error[E0705]: objective `classification` needs integer targets; `data.x` is f32[64]\n"
        "   |\n"
        "14 |   target = data.x\n"
        "   |            ^^^^^^"
    ),
    "E0706": (
        "spec.mf:17:11: error[E0706]: objective `mean_flow` feeds the interval h = t - r: model `field` must declare an input `h: f32[B]`\n"
        "   |\n"
        "17 |   model = field\n"
        "   |           ^^^^^"
    ),
    "E0707": (
        "spec.mf:17:11: error[E0707]: objective `flow_matching` feeds `x` and `t`: model `field` has no input `t`\n"
        "   |\n"
        "17 |   model = field\n"
        "   |           ^^^^^"
    ),
    "E0708": (
        "spec.mf:19:17: error[E0708]: cfg_dropout drops the condition, but model `field` has no input fed from the data\n"
        "   |\n"
        "19 |   cfg_dropout = 0.1\n"
        "   |                 ^^^"
    ),
    "E0709": (
        "spec.mf:20:22: error[E0709]: `inputs` binds `signl`, which is not an input of model `field`\n"
        "   |\n"
        "20 |   inputs = { signl = data.signal }\n"
        "   |                      ^^^^^^^^^^^\n"
        "help: did you mean `signal`?"
    ),
    "E0710": (
        "spec.mf:19:19: error[E0710]: the discriminator takes one input shaped like the target f32[B, 64]; `critic` takes (x: f32[B, 64], y: f32[B, 64])\n"
        "   |\n"
        "19 |   discriminator = critic\n"
        "   |                   ^^^^^^"
    ),
    "E0711": (
        "spec.mf:17:11: error[E0711]: objective `adversarial` needs an optimizer named `discriminator`\n"
        "   |\n"
        "17 | objective adversarial {\n"
        "   |           ^^^^^^^^^^^\n"
        "help: add `optimizer discriminator: adam { lr = 1e-4 }`"
    ),
    "E0713": (
        "spec.mf:19:19: error[E0713]: use_adversarial = false trains no discriminator: `discriminator = critic` is unused\n"
        "   |\n"
        "19 |   discriminator = critic\n"
        "   |                   ^^^^^^\n"
        "help: remove `discriminator`"
    ),
    "E0712": (
        "spec.mf:19:10: error[E0712]: objective `mean_flow` needs `time = mean_flow(...)`, the sampler "
        "that draws the pair (t, r); got `uniform`\n"
        "   |\n"
        "19 |   time = uniform\n"
        "   |          ^^^^^^^\n"
        "help: write `time = mean_flow(mean = -0.4, std = 1.0, data_proportion = 0.5)`"
    ),
    "E0714": (
        'spec.mf:15:10: error[E0714]: objective `classification` does not take loss `mse`\n'
        '   |\n'
        '15 |   loss = mse\n'
        '   |          ^^^\n'
        'help: losses of `classification`: cross_entropy, python, graph'
    ),
    "E0715": (
        'spec.mf:15:10: error[E0715]: objective `classification` takes one unweighted loss term\n'
        '   |\n'
        '15 |   loss = 2 * cross_entropy\n'
        '   |          ^^^^^^^^^^^^^^^^^\n'
        'help: write `loss = cross_entropy` (scale the learning rate instead of the loss)'
    ),
    "E0715_once": (
        'spec.mf:16:26: error[E0715]: objective `language_model` takes one `cross_entropy` term\n'
        '   |\n'
        '16 |   loss = cross_entropy + cross_entropy(ignore_index = 0)\n'
        '   |                          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n'
        'help: remove the repeated term'
    ),
    "E0716": (
        'spec.mf:21:15: error[E0716]: kl_weight > 0 needs a generator returning (reconstruction, [mean, logvar]); model `generator_net` returns 1 value\n'
        '   |\n'
        '21 |   kl_weight = 0.1\n'
        '   |               ^^^\n'
        'help: return the statistics too: `return reconstruction, [mean, logvar]`, or set kl_weight = 0'
    ),
    "E0717": (
        'spec.mf:11:17: error[E0717]: positional_embedding holds 4 positions, but objective `language_model` feeds model `mlp` 8 (T = 8: data.tokens[:, :-1])\n'
        '   |\n'
        '11 |   return linear(positional_embedding(embedding(tokens, 40, hidden), 4), 40)\n'
        '   |                 ^^^^^^^^^^^^^^^^^^^^\n'
        'help: give it max_length = 8 or more'
    ),
    "E0718": (
        'spec.mf:17:19: error[E0718]: loss `l1` calls `linear`, which creates parameters; a loss has none\n'
        '   |\n'
        '17 |   return mean(abs(linear(p, D) - q), axis = [0, 1])\n'
        '   |                   ^^^^^^\n'
        'help: a loss is a function of its inputs: compute it with operators and the functions without parameters '
        '(abs, exp, log, where, mean, ...)'
    ),
    "E0719": (
        'spec.mf:16:41: error[E0719]: loss `l1` returns f32[B]; a loss returns one scalar `f32[]`\n'
        '   |\n'
        '16 | block l1(p: f32[B, D], q: f32[B, D]) -> f32[B] {\n'
        '   |                                         ^^^^^^\n'
        'help: reduce over every axis: `mean(x, axis = [0, 1])`'
    ),
    "E0543": (
        "spec.mf:22:40: error[E0543]: checkpoint `every` has no effect: `enable = false` writes no checkpoint\n"
        "   |\n"
        "22 |   checkpoint { enable = false, every = 10 }\n"
        "   |                                        ^^\n"
        "help: remove `every`, or `enable = false` to write checkpoints"
    ),
    "E0543_keep_all": (
        "spec.mf:22:50: error[E0543]: checkpoint `monitor` has no effect: `keep = all` keeps every checkpoint, so "
        "none is ranked\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = all, monitor = "val/accuracy" }\n'
        "   |                                                  ^^^^^^^^^^^^^^\n"
        "help: remove `monitor`, or keep a number of the best (`keep = 3`)"
    ),
    "E0519_dirpath": (
        'spec.mf:22:86: error[E0519]: `dirpath` "." names the run directory itself: checkpoints need a folder of '
        "their own\n"
        "   |\n"
        '22 |   checkpoint { every = 10, keep = 2, monitor = "val/accuracy", mode = max, dirpath = "." }\n'
        "   |                                                                                      ^^^\n"
        'help: e.g. dirpath = "/scratch/run_a" or "ckpt"'
    ),
    "E0550": (
        'spec.mf:21:24: error[E0550]: metric `mse` needs a regression objective, not `classification`\n'
        '   |\n'
        '21 |   metrics = [accuracy, mse]\n'
        '   |                        ^^^\n'
        'help: training metrics of a classification objective: accuracy'
    ),
    "E0551": (
        'spec.mf:31:13: error[E0551]: `sampler` has no effect: no metric in `eval.metrics` compares generated samples\n'
        '   |\n'
        '31 |   sampler = euler(steps = 4)\n'
        '   |             ^^^^^^^^^^^^^^^^\n'
        'help: add one (chamfer, linear_assignment, mae, ...) or remove `sampler`'
    ),
    "E0560": (
        "spec.mf:6:10: error[E0560]: `fake` has no effect: `digits` reads no files (it generates or bundles its data)\n"
        "  |\n"
        "6 |   fake = true\n"
        "  |          ^^^^\n"
        "help: remove `fake`: it serves random examples in place of a file source's (npz, npy, hdf5, wav_folder, "
        "token_stream, python)"
    ),
    "E0585": (
        "spec.mf:21:11: error[E0585]: train.remat recomputes each pass of a `repeat` in the backward pass, and `mlp` "
        "has no repeat\n"
        "   |\n"
        "21 |   remat = true\n"
        "   |           ^^^^\n"
        "help: write the stacked layers as `repeat n { ... }`, or remove train.remat"
    ),
    "E0586": (
        "spec.mf:29:11: error[E0586]: train.remat is not available on backend `mlx` for a model that draws random "
        "numbers (`mlp`: dropout or a gaussian sample): MLX's checkpoint draws the dropout masks and gaussian samples "
        "again when it recomputes a pass, so the gradients would not be the forward pass's\n"
        "   |\n"
        "29 |   remat = true\n"
        "   |           ^^^^\n"
        "help: set the dropout rates to 0, or train on jax or lightning, which replay the draws"
    ),
    "E0561": (
        "spec.mf:6:40: error[E0561]: normalize: `statistics` describe one field, and `field` is not given\n"
        "  |\n"
        '6 |   transforms = [normalize(statistics = "stats.npz")]\n'
        "  |                                        ^^^^^^^^^^^\n"
        'help: name the field they describe: normalize(field = "x", statistics = ...)'
    ),
    "E0561_field": (
        "spec.mf:6:30: error[E0561]: clip: `field` names `y`, which is no float field of the data\n"
        "  |\n"
        '6 |   transforms = [clip(field = "y")]\n'
        "  |                              ^^^\n"
        "help: float fields: x"
    ),
    "E0563": (
        "spec.mf:9:12: error[E0563]: `render` has no effect: no metric in `eval.metrics` compares signals\n"
        "  |\n"
        "9 |   render = ksin(signal_length = 16)\n"
        "  |            ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        "help: add log_spectral_distance to `eval.metrics`, or remove `render`"
    ),
    "E0564": (
        "spec.mf:7:52: error[E0564]: `signal_field` names `sig`, which is no float field of the data\n"
        "  |\n"
        '7 |   render = ksin(signal_length = 16, signal_field = "sig")\n'
        "  |                                                    ^^^^^\n"
        "help: float fields: params, signal"
    ),
    "E0564_length": (
        "spec.mf:7:51: error[E0564]: field `signal` is f32[16] per example, but ksin(signal_length = 8) renders f32[8]: the signals would not compare\n"
        "  |\n"
        '7 |   render = ksin(signal_length = 8, signal_field = "signal")\n'
        "  |                                                   ^^^^^^^^\n"
        "help: set signal_length = 16, the length of the stored signals"
    ),
    "E0565": (
        "spec.mf:7:12: error[E0565]: ksin(...) renders parameters [f_1..f_k, a_1..a_k], but the target `params` is f32[3] per example\n"
        "  |\n"
        "7 |   render = ksin(signal_length = 16)\n"
        "  |            ^^^^^^^^^^^^^^^^^^^^^^^^\n"
        'help: the target must be f32[2 * k]; render other parameters with python("synth.py", "render")'
    ),
    "E0621": (
        "spec.mf:9:63: error[E0621]: batch_norm: `momentum` must be in (0, 1] (the weight of each training batch's "
        "statistics in the running values), got 1.5\n"
        "  |\n"
        "9 |   return linear(relu(batch_norm(linear(x, hidden), momentum = 1.5)), 10)\n"
        "  |                                                               ^^^"
    ),
    "E0622": (
        "spec.mf:9:26: error[E0622]: running_statistics: the input [B] needs a batch axis and a channel axis: the "
        "statistics of each channel (the last axis) are taken over the other axes\n"
        "  |\n"
        "9 |   m = running_statistics(mean(x, axis = 1))\n"
        "  |                          ^^^^^^^^^^^^^^^^^"
    ),
    "E0623": (
        "spec.mf:9:18: error[E0623]: batch_norm: the input [1, 64] has one value per channel: batch statistics need "
        "more than one\n"
        "  |\n"
        "9 |   m = batch_norm(mean(x, axis = 0, keepdims = true))\n"
        "  |                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"
    ),
    "E0566": (
        "spec.mf:7:13: error[E0566]: objective `adversarial` has no predict mode: `predict` writes a flow's samples or a classifier's or regressor's outputs\n"
        "  |\n"
        '7 |   predict = "inputs.npz"\n'
        "  |             ^^^^^^^^^^^^\n"
        "help: remove `predict`"
    ),
    "E0566_sampler": (
        "spec.mf:9:13: error[E0566]: `predict` samples with the objective's sampler, and `eval` sets none\n"
        "  |\n"
        '9 |   predict = "inputs.npz"\n'
        "  |             ^^^^^^^^^^^^\n"
        "help: e.g. eval { sampler = rk4(steps = 100) } (a test_sampler, when set, is the one used)"
    ),
    "E0567": (
        "spec.mf:6:13: error[E0567]: `inputs.csv` is neither an .npz nor an HDF5 file (.h5, .hdf5)\n"
        "  |\n"
        '6 |   predict = "inputs.csv"\n'
        "  |             ^^^^^^^^^^^^\n"
        "help: save the inputs with numpy.savez(path, <field> = ...) or as top-level HDF5 datasets"
    ),
    "E0624": (
        "spec.mf:13:22: error[E0624]: `batch_norm` updates buffers in training steps, but objective `mean_flow` "
        "differentiates model `field` forward-mode (a jvp), inside which JAX and torch cannot write them\n"
        "   |\n"
        "13 |   return linear(gelu(batch_norm(linear(x, 8)) + c), 2 * k)\n"
        "   |                      ^^^^^^^^^^\n"
        "help: normalise without running statistics (layernorm, groupnorm, rmsnorm), or train with flow_matching"
    ),
    "E0625": (
        "spec.mf:10:23: error[E0625]: `batch_norm` is in a `repeat` of model `mlp`, which train.remat runs again in the "
        "backward pass: its buffers would be updated twice a step\n"
        "   |\n"
        "10 |   repeat 2 { h = relu(batch_norm(h)) }\n"
        "   |                       ^^^^^^^^^^\n"
        "help: move it out of the repeat, or remove train.remat"
    ),
    "E0720": (
        'spec.mf:12:46: error[E0720]: `normal` draws random numbers, which only a time sampler does '
        '(`time = graph("block")` of a flow objective)\n'
        '   |\n'
        '12 |   c = linear(signal, 8) + sinusoidal(t, 8) + normal([B, 8])\n'
        '   |                                              ^^^^^^\n'
        'help: a model draws its randomness with layers (dropout, gaussian_sample); losses, paths and metrics are '
        'functions of their inputs'
    ),
    "E0801": (
        'spec.mf:28:15: error[E0801]: fp16 (dynamic loss scaling in the generator loop) with objective '
        '`adversarial` is not implemented by backend `mlx` yet\n'
        '   |\n'
        '28 |   precision = fp16\n'
        '   |               ^^^^'
    ),
    "E0801_lightning": (
        'spec.mf:28:15: error[E0801]: fp16 (dynamic loss scaling in the generator loop) with objective '
        '`adversarial` is not implemented by backend `lightning` yet\n'
        '   |\n'
        '28 |   precision = fp16\n'
        '   |               ^^^^'
    ),
    "E0801_refusal": (
        'spec.mf:28:14: error[E0801]: sharded parameters and optimizer state (train.parallel = sharded) with objective '
        '`adversarial` is not implemented by backend `mlx` yet\n'
        '   |\n'
        '28 |   parallel = sharded\n'
        '   |              ^^^^^^^'
    ),
    "E0804": (
        'spec.mf:19:19: error[E0804]: backend `jax` needs the discriminator to return (logits, features); model `critic` returns 1 value\n'
        '   |\n'
        '19 |   discriminator = critic\n'
        '   |                   ^^^^^^\n'
        'help: return the logit maps and the feature maps: `return [logits], [h1, h2]` (std/discriminators.mf)'
    ),
}


def test_every_case_is_pinned():
    assert sorted(EXPECTED) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_code(name):
    text, overrides, backend = build(name)
    result = run(text, overrides, backend)
    assert rendered(result) == [EXPECTED[name]]
    assert result.diagnostics[0].code == name.split("_")[0]
    assert result.program is None


# The composition codes (`extends`, dsl/compose.py): several files each, so they are not in
# cases.py. name -> (spec.mf, the other files, the one diagnostic as rendered).
PRESET = 'spec digits_preset\nextends "base.mf"\n'
COMPOSITION = {
    "E0114": (
        PRESET + 'extends "other.mf"\n',
        {"base.mf": DIGITS},
        ("spec.mf:3:1: error[E0114]: a file extends one base: `extends` is written twice\n"
        "  |\n"
        '3 | extends "other.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^^\n"
        "help: to build on several files, extend one and import the others (an import adds, it cannot override)\n"
        "note: the first `extends` is at spec.mf:2:1"),
    ),
    "E0115": (
        'spec digits_preset\nlet hidden = 64\nextends "base.mf"\n',
        {"base.mf": DIGITS},
        ("spec.mf:3:1: error[E0115]: `extends` must come before imports and items\n"
        "  |\n"
        '3 | extends "base.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^\n"
        "help: write it right after the `spec` and `language` lines"),
    ),
    "E0211": (
        PRESET + "let hidden = 64\n",
        {"base.mf": DIGITS.replace("spec digits_small\n", 'spec digits_small\nextends "spec.mf"\n')},
        ("base.mf:2:1: error[E0211]: `extends` cycle: spec.mf -> base.mf -> spec.mf\n"
        "  |\n"
        '2 | extends "spec.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^\n"
        "help: a file cannot be its own base: extend a file that neither extends nor imports this one"),
    ),
    "E0212": (
        PRESET + 'import "lib.mf"\n',
        {"base.mf": DIGITS, "lib.mf": 'extends "base.mf"\n'},
        ("spec.mf:2:1: error[E0212]: `base.mf` is already the base of `lib.mf`: a file is the base of one file in a "
        "program\n"
        "  |\n"
        '2 | extends "base.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^\n"
        "help: extend `lib.mf` instead, or import the base (an import adds, it cannot override)\n"
        "note: `lib.mf` extends it at lib.mf:1:1"),
    ),
    "E0201_extends": (
        'spec digits_preset\nextends "missing.mf"\n',
        {},
        ("spec.mf:2:1: error[E0201]: cannot find `missing.mf`\n"
        "  |\n"
        '2 | extends "missing.mf"\n'
        "  | ^^^^^^^^^^^^^^^^^^^^"),
    ),
}


@pytest.mark.parametrize("name", sorted(COMPOSITION))
def test_composition_code(name):
    text, files, expected = COMPOSITION[name]
    result = run(text, files=files)
    assert rendered(result) == [expected]
    assert result.diagnostics[0].code == name.split("_")[0]
    assert result.program is None


def test_every_composition_code_is_documented_with_its_exact_example():
    text = (Path(__file__).resolve().parents[2] / "docs" / "diagnostics" / "syntax.md").read_text(encoding="utf-8")
    for name, (_, _, expected) in COMPOSITION.items():
        assert f"## {name.split('_')[0]}:" in text, name
        assert expected in text, name
