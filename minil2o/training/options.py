"""Configuration dataclasses whose fields are also command-line flags, so each default and each
help text is written once, beside its field:

    @dataclass
    class Config:
        horizon: int = option(100, "T: optimizee steps per problem")
        dtype: str = option("float32", "float type", choices=("float32", "float64"))

    add_options(parser, Config)          --horizon HORIZON, --dtype {float32,float64}
    config = from_options(Config, args)  Config(horizon=args.horizon, ...)

A field's flag is --its-name-with-dashes (or `flag=`); a bool field is a store_true flag; a dict
field is a repeatable KEY=VALUE flag whose values are read as JSON where they parse
(hidden=[20,20]) and as strings otherwise (activation=relu). `by=(other, {value: default})`
gives a field a default that depends on another field (weighting "last" for rnnprop).
`choices=` are checked by argparse, `allowed=` only by the dataclass's own validation (whose
message can then list them as it likes); allowed_values(f) gives either. `maximum=` is the largest
value the dataclass's validation accepts (a sane size: a typo must not exhaust memory or hang).
A number field named in minil2o.validate.BOUNDS is checked against it while the line is parsed.

Ours, not tyro, simple-parsing or jsonargparse: a few functions over argparse give exactly these
flags (dict fields as KEY=VALUE, defaults that follow another field) with no new dependency.
"""
import dataclasses
import json
from dataclasses import field

from ..errors import UsageError
from ..validate import BOUNDS, flag_type

NOT_ARGPARSE = ("flag", "by", "allowed", "maximum")          # metadata keys that argparse does not take


def option(default, help, **cli):
    """A dataclass field with its help text; cli: argparse keywords (choices, metavar) and
    flag=, by=, allowed=, maximum= (see the module docstring). A dict default is copied for every instance."""
    metadata = {"help": help, **cli}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def flag_of(f):
    """The command-line flag of dataclass field f."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-"))


def allowed_values(f):
    """The values dataclass field f allows (its choices), or None for any."""
    return f.metadata.get("choices") or f.metadata.get("allowed")


def add_options(parser, cls):
    """One flag for every field of the dataclass cls, with the field's default and help."""
    for f in dataclasses.fields(cls):
        cli = {k: v for k, v in f.metadata.items() if k not in NOT_ARGPARSE}
        if f.type is bool:
            parser.add_argument(flag_of(f), dest=f.name, action="store_true", **cli)
        elif f.type is dict:
            cli["help"] += " (repeatable)"
            parser.add_argument(flag_of(f), dest=f.name, action="append", metavar="KEY=VALUE",
                                **cli)
        else:
            default = None if "by" in f.metadata else f.default
            kind = flag_type(f.name, flag_of(f)) if f.name in BOUNDS else f.type
            parser.add_argument(flag_of(f), dest=f.name, type=kind, default=default, **cli)


def from_options(cls, args):
    """An instance of the dataclass cls from the arguments add_options parsed."""
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(args, f.name)
        if f.type is dict:
            value = parse_kwargs(value, flag_of(f))
        values[f.name] = value
    for f in dataclasses.fields(cls):
        if values[f.name] is None and "by" in f.metadata:
            other, defaults = f.metadata["by"]
            values[f.name] = defaults.get(values[other], f.default)
    return cls(**values)


def parse_kwargs(pairs, what):
    """['hidden=[20,20]', 'activation=relu'] -> {'hidden': [20, 20], 'activation': 'relu'}."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"bad {what} {pair!r}: expected KEY=VALUE, e.g. activation=relu")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
        except RecursionError:
            raise UsageError(f"bad {what} {key!r}: its value is nested too deeply") from None
    return out

