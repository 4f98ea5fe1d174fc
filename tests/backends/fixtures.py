"""IR programs for the backend tests: the real pipeline when it compiles the example specs,
hand-built ``ir.Program`` values otherwise (digits MLP classifier, shrunk ksin flow).

Shared with the Lightning and MLX tests: ``program(name, **overrides)`` returns a program
with train-plan fields replaced (``max_steps=20``, ``log_every=1``, ...).
"""

from __future__ import annotations

import dataclasses
import hashlib

from specc.compiler import ir

B = "B"


def optimizer(kind: str, **arguments) -> ir.Component:
    """An optimizer component as lowering gives it: every parameter the spec leaves out holds
    the vocabulary's default."""
    from specc.compiler.vocabulary import registry

    filled = {parameter.name: parameter.default for parameter in registry.lookup("optimizer", kind).params}
    filled.update(arguments)
    values = {name: tuple(value) if isinstance(value, list) else value for name, value in filled.items()}
    return ir.Component(kind, tuple(sorted(values.items())))


def tensor(*shape, dtype="f32") -> ir.TensorType:
    return ir.TensorType(dtype, tuple(shape))


def linear(attribute: str, fan_in: int, fan_out: int) -> ir.Layer:
    return ir.Layer(
        attribute=attribute,
        kind="Linear",
        arguments=(("bias", True), ("in_features", fan_in), ("out_features", fan_out)),
        parameters=(
            ir.Parameter("weight", (fan_out, fan_in), "uniform_fan_in", fan_in),
            ir.Parameter("bias", (fan_out,), "uniform_fan_in", fan_in),
        ),
    )


def layernorm(attribute: str, dim: int, affine: bool = True) -> ir.Layer:
    parameters = (ir.Parameter("weight", (dim,), "ones"), ir.Parameter("bias", (dim,), "zeros")) if affine else ()
    return ir.Layer(attribute, "LayerNorm", (("affine", affine), ("dim", dim), ("eps", 1e-5)), parameters)


def ref(name: str) -> ir.Operand:
    return ir.Operand(ref=name)


def layer_call(target, attribute, *inputs, shape=()) -> ir.Statement:
    return ir.Statement((target,), "layer", "", tuple(ref(name) for name in inputs), attribute=attribute, types=(tensor(*shape),))


def op(targets, function, *inputs, arguments=()) -> ir.Statement:
    operands = tuple(item if isinstance(item, ir.Operand) else ref(item) for item in inputs)
    targets = (targets,) if isinstance(targets, str) else tuple(targets)
    return ir.Statement(targets, "op", function, operands, arguments=arguments)


def graph_parameters(modules: tuple[ir.ModuleDef, ...], root: str) -> tuple:
    """Full dotted names of every parameter reachable from ``root``, sorted."""
    by_name = {module.name: module for module in modules}

    def walk(module_name, prefix):
        for submodule in by_name[module_name].submodules:
            path = f"{prefix}{submodule.attribute}"
            if isinstance(submodule, ir.Layer):
                for parameter in submodule.parameters:
                    yield f"{path}.{parameter.name}", parameter
            elif isinstance(submodule, ir.Instance):
                yield from walk(submodule.module, path + ".")
            else:
                for index in range(submodule.count):
                    yield from walk(submodule.module, f"{path}.{index}.")

    return tuple(sorted(walk(root, ""), key=lambda item: item[0]))


def train_plan(**overrides) -> ir.TrainPlan:
    plan = ir.TrainPlan(
        max_steps=None, max_epochs=None, seed=0, precision="fp32", log_every=10, eval_every=100,
        grad_clip=None, grad_clip_mode="norm", accumulate=1, ema=None, freeze=(), warm_start=None,
        checkpoint=ir.CheckpointPlan(every=None, keep=1, monitor="val/loss", mode="min"),
        early_stopping=None, loggers=(ir.Component("csv", ()),), callbacks=(),
    )
    return dataclasses.replace(plan, **overrides)


def digits_program() -> ir.Program:
    """digits: x [64] -> linear 128 -> relu -> linear 128 -> relu -> linear 10; adam 1e-3."""
    classifier = ir.ModuleDef(
        name="Classifier",
        source="classifier",
        inputs=(("x", tensor(B, 64)),),
        outputs=(("logits", tensor(B, 10)),),
        submodules=(linear("linear_0", 64, 128), linear("linear_1", 128, 128), linear("linear_2", 128, 10)),
        body=(
            layer_call("h", "linear_0", "x", shape=(B, 128)),
            op("h_1", "relu", "h"),
            layer_call("h_2", "linear_1", "h_1", shape=(B, 128)),
            op("h_3", "relu", "h_2"),
            layer_call("logits", "linear_2", "h_3", shape=(B, 10)),
        ),
        origin="digits_mlp.mf:12:1",
    )
    graph = ir.ModelGraph(
        name="classifier", root="Classifier", modules=(classifier,),
        parameters=graph_parameters((classifier,), "Classifier"),
        inputs=(("x", tensor(B, 64)),), outputs=(tensor(B, 10),),
    )
    source = "spec digits_mlp\n"
    return ir.Program(
        spec_name="digits_mlp",
        spec_path="specs/digits_mlp.mf",
        spec_hash=hashlib.sha256(source.encode()).hexdigest(),
        language_version=1,
        data=ir.DataPlan(
            source=ir.Component("digits", (("test_fraction", 0.1), ("val_fraction", 0.1))),
            fields=(ir.Field("x", tensor(64)), ir.Field("y", tensor(dtype="i64"))),
            batch_size=64,
        ),
        models=(graph,),
        objective=ir.ObjectivePlan("classification", ("classifier",), "y", (("x", "data.x"),), ()),
        optimizers=(
            ir.OptimizerPlan("", optimizer("adam", lr=1e-3), ("classifier",), ir.Component("constant", ())),
        ),
        train=train_plan(max_epochs=30, eval_every=200, log_every=50),
        evaluation=ir.EvalPlan(sampler=None, metrics=(ir.Component("accuracy", ()),), batch_size=None),
        provenance=(
            ir.Provenance("optimizer.lr", "digits_mlp.mf:20"),
            ir.Provenance("data.batch_size", "digits_mlp.mf:5"),
            ir.Provenance("train.max_epochs", "digits_mlp.mf:24"),
        ),
        resolved_source=source,
    )


def film_module(dim: int, condition: int, hidden: int) -> ir.ModuleDef:
    return ir.ModuleDef(
        name="FilmMlp",
        source="film_mlp",
        inputs=(("x", tensor(B, dim)), ("c", tensor(B, condition))),
        outputs=(("out", tensor(B, dim)),),
        submodules=(
            linear("linear_0", condition, 2 * dim),
            layernorm("layernorm_0", dim, affine=False),
            linear("linear_1", dim, hidden),
            linear("linear_2", hidden, dim),
        ),
        body=(
            layer_call("film", "linear_0", "c"),
            op(("scale", "shift"), "split", "film", arguments=(("sections", 2),)),
            layer_call("normed", "layernorm_0", "x"),
            op("one_plus", "add", ir.Operand(literal=1), "scale"),
            op("modulated", "mul", "normed", "one_plus"),
            op("h", "add", "modulated", "shift"),
            layer_call("wide", "linear_1", "h"),
            op("activated", "gelu", "wide"),
            layer_call("narrow", "linear_2", "activated"),
            op("out", "add", "x", "narrow"),
        ),
    )


def ksin_program(k: int = 2, length: int = 32, hidden: int = 32, width: int = 32, condition: int = 16, repeats: int = 2) -> ir.Program:
    """The ksin flow model of DESIGN.md, shrunk: x [2k], t, signal [L] -> velocity [2k]."""
    film = film_module(width, condition, hidden)
    root = ir.ModuleDef(
        name="VectorField",
        source="vector_field",
        inputs=(("x", tensor(B, 2 * k)), ("t", tensor(B)), ("signal", tensor(B, length))),
        outputs=(("velocity", tensor(B, 2 * k)),),
        submodules=(
            linear("linear_0", length, condition),
            linear("linear_1", 2 * k, width),
            ir.ModuleList("repeat_0", "FilmMlp", repeats),
            layernorm("layernorm_0", width),
            linear("linear_2", width, 2 * k),
        ),
        body=(
            layer_call("c_signal", "linear_0", "signal"),
            op("c_time", "sinusoidal", "t", arguments=(("dim", condition),)),
            op("c", "add", "c_signal", "c_time"),
            layer_call("h", "linear_1", "x"),
            ir.Statement(("h",), "repeat", "", (ref("h"), ref("c")), attribute="repeat_0"),
            layer_call("normed", "layernorm_0", "h"),
            layer_call("velocity", "linear_2", "normed"),
        ),
    )
    modules = (film, root)
    graph = ir.ModelGraph(
        name="vector_field", root="VectorField", modules=modules,
        parameters=graph_parameters(modules, "VectorField"),
        inputs=root.inputs, outputs=(tensor(B, 2 * k),),
    )
    source = "spec ksin_flow\n"
    return ir.Program(
        spec_name="ksin_flow",
        spec_path="specs/ksin_flow.mf",
        spec_hash=hashlib.sha256(source.encode()).hexdigest(),
        language_version=1,
        data=ir.DataPlan(
            source=ir.Component("ksin", (("coupling", "ot"), ("k", k), ("signal_length", length), ("sizes", (512, 128, 128)))),
            fields=(ir.Field("params", tensor(2 * k)), ir.Field("signal", tensor(length))),
            batch_size=32,
        ),
        models=(graph,),
        objective=ir.ObjectivePlan(
            "flow_matching", ("vector_field",), "params",
            (("signal", "data.signal"), ("t", "objective.t"), ("x", "objective.x")),
            (
                ("cfg_dropout", 0.1),
                ("path", ("linear", (("noise_max", 1.0), ("noise_min", 0.0)))),
                ("time", "uniform"),
                ("weighted", True),
            ),
        ),
        optimizers=(
            ir.OptimizerPlan(
                "", optimizer("adamw", lr=1e-3, weight_decay=0.01), ("vector_field",),
                ir.Component("warmup_cosine", (("peak", 1e-3), ("total", 200), ("warmup", 20))),
            ),
        ),
        train=train_plan(max_steps=200, eval_every=100, log_every=10, grad_clip=1.0),
        evaluation=ir.EvalPlan(
            sampler=ir.Component("rk4", (("cfg_scale", 2.0), ("steps", 4))),
            metrics=(
                ir.Component("log_spectral_distance", ()),
                ir.Component("chamfer", (("params_per_token", 2),)),
                ir.Component("linear_assignment", (("params_per_token", 2),)),
            ),
            batch_size=64,
        ),
        provenance=(ir.Provenance("optimizer.lr", "ksin_flow.mf:31"),),
        resolved_source=source,
    )


PROGRAMS = {"digits_mlp": digits_program, "ksin_flow": ksin_program}


def program(name: str, **train_overrides) -> ir.Program:
    """A fixture program with ``TrainPlan`` fields replaced."""
    built = PROGRAMS[name]()
    if train_overrides:
        built = dataclasses.replace(built, train=dataclasses.replace(built.train, **train_overrides))
    return built


def regression_program(source: ir.Component | None = None, features: int = 4, outputs: int = 1, **train_overrides) -> ir.Program:
    """A linear regression x [F] -> y [O] (synthetic_regression unless ``source`` is given)."""
    model = ir.ModuleDef(
        name="Regressor", source="regressor",
        inputs=(("x", tensor(B, features)),), outputs=(("y_hat", tensor(B, outputs)),),
        submodules=(linear("linear_0", features, outputs),),
        body=(layer_call("y_hat", "linear_0", "x"),),
    )
    graph = ir.ModelGraph(
        name="regressor", root="Regressor", modules=(model,),
        parameters=graph_parameters((model,), "Regressor"),
        inputs=model.inputs, outputs=(tensor(B, outputs),),
    )
    source = source or ir.Component(
        "synthetic_regression", (("num_features", features), ("num_outputs", outputs), ("sizes", (256, 64, 64)))
    )
    text = "spec regression\n"
    built = ir.Program(
        spec_name="regression", spec_path="specs/regression.mf",
        spec_hash=hashlib.sha256(text.encode()).hexdigest(), language_version=1,
        data=ir.DataPlan(source=source, fields=(ir.Field("x", tensor(features)), ir.Field("y", tensor(outputs))), batch_size=32),
        models=(graph,),
        objective=ir.ObjectivePlan("regression", ("regressor",), "y", (("x", "data.x"),), ()),
        optimizers=(ir.OptimizerPlan("", optimizer("sgd", lr=0.05), ("regressor",), None),),
        train=train_plan(max_steps=40, eval_every=20, log_every=5),
        evaluation=ir.EvalPlan(sampler=None, metrics=(ir.Component("mse", ()),), batch_size=None),
        provenance=(), resolved_source=text,
    )
    if train_overrides:
        built = dataclasses.replace(built, train=dataclasses.replace(built.train, **train_overrides))
    return built


PROGRAMS["regression"] = regression_program
