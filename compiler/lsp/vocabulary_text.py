"""How the registry's entries read in an editor: a parameter's type and default, a component's
or a layer's documentation (markdown). Shared by completion and hover."""

from __future__ import annotations

from specc.compiler.vocabulary import layers, registry


def value_text(value, type_name: str = "") -> str:
    """A default as a spec would write it: ``true``, ``none``, ``[0.9, 0.999]``, ``"val/loss"``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(value_text(item) for item in value) + "]"
    if isinstance(value, str) and type_name.startswith("str"):
        return f'"{value}"'
    return str(value)


def parameter_detail(parameter) -> str:
    """``float = 0.001``, ``int (required)``, ``enum none | ot = none``, ``float? = the value of `optimizer.lr```."""
    type_text = parameter.type
    if parameter.choices:
        type_text += " " + " | ".join(parameter.choices)
    if getattr(parameter, "derived", ""):
        return f"{type_text} (default: the value of `{parameter.derived}`)"
    if parameter.required:
        return f"{type_text} (required)"
    return f"{type_text} = {value_text(parameter.default, parameter.type)}"


def parameter_line(parameter) -> str:
    range_text = f", {parameter.range}" if getattr(parameter, "range", "") else ""
    doc = f": {parameter.doc}" if parameter.doc else ""
    return f"- `{parameter.name}` ({parameter_detail(parameter)}{range_text}){doc}"


def component_markdown(component: registry.ComponentDef) -> str:
    lines = [f"**{component.name}** ({component.kind})", "", component.doc]
    if component.params:
        lines += ["", "Parameters:"] + [parameter_line(parameter) for parameter in component.params]
    if component.fields:
        lines += ["", "Fields:"]
        for field in component.fields:
            shape = ", ".join(str(dim) for dim in field.dims)
            lines.append(f"- `{field.name}`: {field.dtype}[{shape}] {field.doc}".rstrip())
    backends = registry.backends_of(component.kind, component.name)
    if backends:
        lines += ["", "Backends: " + ", ".join(backends)]
    return "\n".join(lines)


def layer_signature(entry: layers.Entry) -> str:
    arguments = ", ".join(
        argument.name if argument.required else f"{argument.name} = {value_text(argument.default, argument.type)}"
        for argument in entry.arguments
    )
    return f"{entry.name}({arguments})"


def layer_markdown(entry: layers.Entry) -> str:
    lines = [f"**{layer_signature(entry)}** ({entry.kind})", "", entry.doc, "", f"Shape: `{entry.shape}`"]
    if entry.kind == "layer" and entry.parameters:
        lines.append(f"Parameters: {entry.parameters}")
    lines += ["", "Arguments:"]
    for argument in entry.arguments:
        choices = f" {' | '.join(argument.choices)}" if argument.choices else ""
        default = "" if argument.required else f" = {value_text(argument.default, argument.type)}"
        lines.append(f"- `{argument.name}` ({argument.type}{choices}{default}): {argument.doc}")
    return "\n".join(lines)


def section_markdown(kind: str) -> str:
    definition = registry.SECTIONS[kind]
    lines = [f"**{kind}** section: {definition.doc}"]
    if definition.keys:
        lines += ["", "Keys:"] + [parameter_line(parameter) for parameter in definition.keys]
    if definition.children:
        lines += ["", "Sections: " + ", ".join(definition.children)]
    return "\n".join(lines)
