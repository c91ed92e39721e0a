"""tools/misc/mutation_check.py's list kept in step with the source: make mutation-check is not in CI, so a
mutation whose text was edited away would otherwise only be found at its next full run."""
import os

from ..helpers.paths import ROOT
from ..helpers.processes import run_tool

MUTATION_CHECK = os.path.join(ROOT, 'tools/misc/mutation_check.py')


def test_every_mutation_fits_the_source_once_and_its_tests_exist():
    listing = run_tool([MUTATION_CHECK, '--list'])
    assert 'error' not in listing
    assert len(listing.strip().splitlines()) > 30  # one line per mutation
