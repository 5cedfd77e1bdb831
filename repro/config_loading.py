"""Reading an experiment's configuration (:mod:`repro.config`): YAML files and their
``profiles:`` block, ``--section.key VALUE`` and ``key=value`` overrides through jsonargparse,
and jsonargparse's errors reworded into one line that names the bad key.

The ``problem:`` section is read in two passes: its ``family`` tag (last given wins) picks the
family's settings class (:func:`repro.settings.settings_of`), and jsonargparse then reads the
section with that class's fields alone.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from argparse import ArgumentError
from pathlib import Path
from typing import Any

import yaml

import repro.families  # noqa: F401 - registers every family's settings
from repro.config import PROFILES, Config
from repro.settings import ConfigError, ProblemSettings, settings_of
from repro.settings import require as _require


def merge(base: dict, override: dict) -> dict:
    """Deep-merge ``override`` into a copy of ``base``."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def with_profile(data: dict, profile: str | None = None) -> dict:
    """``data`` with its ``profiles:`` block applied: ``profile``'s section merged in (the
    ``profile`` key's when None, else ``paper``) and the block removed."""
    data = dict(data)
    profiles = data.pop("profiles", None) or {}
    profile = profile or data.get("profile") or "paper"
    _require(profile in PROFILES,
             f"profile {profile!r} is not allowed; choose one of {', '.join(PROFILES)}")
    bad = sorted(set(profiles) - set(PROFILES)) if isinstance(profiles, dict) else [profiles]
    if bad:
        raise ConfigError(f"profiles: unknown profile {bad[0]!r}; allowed: {', '.join(PROFILES)}")
    _sections_are_mappings(data, "")
    for name, block in profiles.items():
        _require(block is None or isinstance(block, dict),
                 f"profiles.{name}: expected a mapping of sections, got {block!r}")
        _sections_are_mappings(block or {}, f"profiles.{name}.")
    return {**merge(data, profiles.get(profile) or {}), "profile": profile}


def _sections_are_mappings(data: dict, prefix: str) -> None:
    """Refuse a section of ``data`` (``meta:``, ...) that is not a mapping."""
    for name in _sections().keys() & set(data):
        _require(isinstance(data[name], dict),
                 f"{prefix}{name}: expected a mapping, got {data[name]!r}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, typing.Hashable):
                continue  # YAML's own error follows in construct_mapping
            if key in seen:
                line = key_node.start_mark.line + 1
                raise ConfigError(f"key {key!r} appears twice (line {line})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read(path: Path | str, profile: str | None = None) -> dict:
    """The experiment YAML at ``path`` as a mapping, ``profile`` applied (:func:`with_profile`)."""
    path = Path(path)
    _require(not path.is_dir(), f"config file {path} is a folder, not a file")
    _require(path.is_file(), f"config file {path} does not exist")
    try:
        data = yaml.load(path.read_bytes().decode("utf-8"), Loader=_UniqueKeyLoader)  # noqa: S506
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
            f"position {error.start})"
        ) from None
    except ConfigError as error:
        raise ConfigError(f"config file {path}: {error}") from None
    except yaml.YAMLError as error:
        line = getattr(getattr(error, "problem_mark", None), "line", None)
        where = f" (line {line + 1})" if line is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    _require(data is not None, f"config file {path} is empty; start from one of experiments/*.yaml")
    _require(
        isinstance(data, dict),
        f"config file {path} holds a {type(data).__name__}, not a mapping of sections "
        "(experiment:, problem:, meta:, ...); start from one of experiments/*.yaml",
    )
    return with_profile(data, profile)


def family_named(argv: list[str]) -> type[ProblemSettings]:
    """The settings class of the family that command-line tokens ``argv`` name: the last
    ``problem.family`` of a ``--config`` YAML text, a ``--problem`` mapping or a
    ``--problem.family`` option. A family other than the config files' is refused: its
    settings are other keys."""
    named, tokens = {}, iter(argv)
    for token in tokens:
        name, equals, value = token.partition("=")
        if name not in ("--config", "--problem", "--problem.family"):
            continue
        value = value if equals else next(tokens, "")
        try:
            data = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"{name.lstrip('-')}: {value!r} is not valid YAML") from None
        if name == "--problem.family":
            named["option"] = data
        elif isinstance(data, dict):
            problem = data.get("problem") if name == "--config" else data
            if isinstance(problem, dict) and "family" in problem:
                named["file" if name == "--config" else "option"] = problem["family"]
    if "option" in named and "file" in named:
        _require(
            named["option"] == named["file"],
            f"problem.family: {named['option']!r} where the config names {named['file']!r}; "
            "each family has its own problem settings, so start from a config of that family "
            "(experiments/*.yaml)",
        )
    return settings_of(named.get("option", named.get("file")))


@functools.cache
def config_class(family: type[ProblemSettings]) -> type[Config]:
    """:class:`Config` with its ``problem`` section typed as ``family``'s settings (what
    jsonargparse reads); :func:`build` returns a plain :class:`Config`."""
    problem = ("problem", family, dataclasses.field(default_factory=family))
    return dataclasses.make_dataclass("Config", [problem], bases=(Config,), frozen=True)


def add_arguments(parser: Any, family: type[ProblemSettings]) -> None:
    """Every setting of :class:`Config`, its problem section ``family``'s, as ``--section.key``
    on a jsonargparse ``parser``, with ``--config`` (a file, or YAML text, of those settings;
    several compose) and ``--print_config``."""
    from jsonargparse import ActionConfigFile

    parser.add_argument("--config", action=ActionConfigFile, help="experiment YAML")
    parser.add_class_arguments(config_class(family), nested_key=None, fail_untyped=True)


def build(parser: Any, namespace: Any) -> Config:
    """The validated :class:`Config` of a namespace ``parser`` parsed, with plain values."""
    made = parser.instantiate(namespace)
    return _plain(Config(**{f.name: made[f.name] for f in dataclasses.fields(Config)}))


def parse(data: dict, overrides: list[str] = ()) -> Config:
    """The Config of the settings ``data`` and ``key=value`` ``overrides`` (values as YAML)."""
    from jsonargparse import ArgumentParser

    args = ["--config", yaml.safe_dump(data), *(f"--{text}" for text in overrides)]
    family = family_named(args)
    parser = ArgumentParser(exit_on_error=False)
    add_arguments(parser, family)
    try:
        return build(parser, parser.parse_args(args))
    except ArgumentError as error:
        raise ConfigError(one_line(error, family)) from None


def from_dict(data: dict, profile: str | None = None, overrides: list[str] = ()) -> Config:
    """A validated Config from a raw dict with an optional ``profiles`` section."""
    return parse(with_profile(data, profile), overrides)


def load(path: Path | str, profile: str | None = None, overrides: list[str] = ()) -> Config:
    """Read and validate the YAML experiment config at ``path``."""
    return parse(read(path, profile), overrides)


REWORDED = (
    (r"Expected a <class '(\w+)'>\. Got value: (.*)",
     lambda m: f"expected {_KINDS.get(m[1], 'a ' + m[1])}, got {m[2]}"),
    (r"Expected a typing.Literal\[(.*)\]. Got value: (.*)",
     lambda m: f"'{m[2]}' is not allowed; choose one of {m[1].replace(chr(39), '')}"),
    (r"Not of type \w+: (\S+) does not conform to restriction v>0", r"must be positive, got \1"),
    (r"Not of type \w+: (\S+) does not conform to restriction v>=0",
     r"must be zero or more, got \1"),
    (r"Not of type \w+: could not convert string to float: (.*)", r"expected a number, got \1"),
    (r"Not of type \w+: (?:(\S+) not an integer|invalid literal for int\(\) with base 10: (.*))",
     lambda m: f"expected an integer, got {m[1] or m[2]}"),
)
"""jsonargparse's wording of common errors, and ours."""
_KINDS = {"str": "a string", "list": "a list", "dict": "a mapping", "bool": "true or false",
          "int": "an integer", "float": "a number"}


def one_line(error: Exception, family: type[ProblemSettings] | None = None) -> str:
    """jsonargparse's message for ``error`` on one line, led by the key it names (the
    ``problem`` section's keys those of ``family``'s settings, the default family's if None)."""
    config = config_class(family or settings_of(None))
    text = " ".join(str(error).split())
    if found := re.fullmatch(r"unrecognized arguments: (?!--)(\S+).*", text):
        return f"unexpected argument {found[1]!r}; settings look like --meta.lr 0.01"
    found = (
        re.fullmatch(r"unrecognized arguments: --(?:(\w+)\.)?(\w+).*", text)
        or re.fullmatch(r"(?:Group '(\w+)' does not accept option|Option) '(\w+)'.*", text)
        or re.fullmatch(r"Subcommand '\w+' does not accept option '(?:(\w+)\.)?(\w+)'.*", text)
        or re.fullmatch(r"Option '()(\w+)\.\w+' is not accepted.*", text)  # an unknown section
    )
    if found:
        section, key = found.groups()
        if section and section not in _sections(config):  # the section is what is unknown
            section, key = None, section
        names = [f.name for f in dataclasses.fields(_sections(config).get(section, Config))]
        where = f"{section}." if section else ""
        return (f"unknown key '{where}{key}'; allowed under {section or 'the top level'}: "
                f"{', '.join(names)}")
    for pattern, plain in REWORDED:
        text = re.sub(pattern, plain, text)
    found = re.match(r'Parser key "([^"]+)": (.*)', text)
    return f"{found[1]}: {found[2]}" if found else text


def _sections(config: type = Config) -> dict[str, type]:
    """``config``'s sections (``problem``, ``meta``, ...) and their dataclasses."""
    hints = typing.get_type_hints(config)
    return {name: hint for name, hint in hints.items() if dataclasses.is_dataclass(hint)}


def _plain(value: Any) -> Any:
    """``value`` with jsonargparse's bounded numbers (``PositiveInt``, ...) as int and float, so
    configs pickle into checkpoints that load without jsonargparse."""
    if dataclasses.is_dataclass(value):
        fields = dataclasses.fields(value)
        return type(value)(**{f.name: _plain(getattr(value, f.name)) for f in fields})
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bool | str) or value is None:
        return value
    return float(value) if isinstance(value, float) else int(value)
