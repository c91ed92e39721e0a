"""Our tools/train.py and tools/test.py take every option of mmdet's and mmseg's own, with the same meaning."""
import argparse
import importlib.util
import os

import pytest

from ..helpers.paths import ROOT, packaged_tool


class _Parsed(Exception):
    def __init__(self, parser):
        super().__init__()
        self.parser = parser


def parser_of(path, monkeypatch):
    """The ArgumentParser that the tool at ``path`` builds in its ``parse_args()``, taken before it parses."""
    def capture(parser, *args, **kwargs):
        raise _Parsed(parser)
    monkeypatch.setattr(argparse.ArgumentParser, 'parse_args', capture)
    spec = importlib.util.spec_from_file_location(f'tool_{abs(hash(path))}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with pytest.raises(_Parsed) as parsed:
        module.parse_args()
    return parsed.value.parser


def options(parser):
    """{option string: what it means to argparse}, positionals under their names."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        meaning = (type(action).__name__, action.nargs, action.const, action.default, action.type,
                   tuple(action.choices or ()), action.dest)
        for name in action.option_strings or [action.dest]:
            found[name] = meaning
    return found


# Where ours is a superset: mmseg's --resume takes no value (resume from the latest checkpoint); ours takes an
# optional path, and without one means the same.
WIDER = {('mmseg', 'train.py', '--resume')}


@pytest.mark.parametrize('package', ['mmdet', 'mmseg'])
@pytest.mark.parametrize('tool', ['train.py', 'test.py'])
def test_ours_takes_every_option_of_theirs(package, tool, monkeypatch):
    theirs = options(parser_of(packaged_tool(package, tool), monkeypatch))
    ours = options(parser_of(os.path.join(ROOT, 'tools', tool), monkeypatch))
    assert set(theirs) <= set(ours), sorted(set(theirs) - set(ours))
    different = {name for name in theirs if ours[name] != theirs[name] and (package, tool, name) not in WIDER}
    assert not different, {name: (theirs[name], ours[name]) for name in different}
    if (package, tool, '--resume') in WIDER:
        resume = parser_of(os.path.join(ROOT, 'tools', tool), monkeypatch)._option_string_actions['--resume']
        assert resume.nargs == '?' and resume.const == 'auto'
