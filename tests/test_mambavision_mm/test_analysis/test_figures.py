"""The visualisation tools' output folder is all or nothing."""
import os

import pytest

from mambavision_mm.analysis.figures import staged_output


def test_files_arrive_only_when_the_block_succeeds(tmp_path):
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'kept.txt').write_text('from an earlier run')
    (out / 'erf.json').write_text('old')
    with staged_output(str(out)) as scratch:
        assert not os.path.samefile(scratch, out)
        os.makedirs(os.path.join(scratch, 'raw'))
        open(os.path.join(scratch, 'erf.json'), 'w').write('new')
        open(os.path.join(scratch, 'raw', 'a.npy'), 'w').write('raw')
        assert (out / 'erf.json').read_text() == 'old'
    assert (out / 'erf.json').read_text() == 'new' and (out / 'raw' / 'a.npy').read_text() == 'raw'
    assert (out / 'kept.txt').exists()
    assert sorted(os.listdir(tmp_path)) == ['out']


def test_a_failure_leaves_nothing(tmp_path):
    out = tmp_path / 'out'
    with pytest.raises(RuntimeError):
        with staged_output(str(out)) as scratch:
            open(os.path.join(scratch, 'stage3_block0.png'), 'w').write('half')
            raise RuntimeError('drawing failed')
    assert os.listdir(tmp_path) == []
