"""tools/model_converters/convert_checkpoint.py."""
import os

import torch

from mambavision_backbone import MambaVision

from ..helpers.checkpoints import (
    SMALL,
    code_running_checkpoint,
    huggingface_safetensors,
    published_classification,
    randomize,
)
from ..helpers.paths import ROOT
from ..helpers.processes import load_in_fresh_process, run_tool

TOOL = os.path.join(ROOT, 'tools', 'model_converters', 'convert_checkpoint.py')


def convert(*args, **kwargs):
    return run_tool([TOOL, *map(str, args)], timeout=300, **kwargs)


def test_published_classification_file_converts_and_loads(tmp_path):
    source = randomize(MambaVision('tiny'), seed=5)
    published_classification(source, tmp_path / 'mambavision_tiny_1k.pth.tar')
    out = convert(tmp_path / 'mambavision_tiny_1k.pth.tar', tmp_path / 'out/tiny.pth')
    assert 'MambaVision-T (detected from the tensor shapes), 245 backbone tensors' in out
    converted = torch.load(tmp_path / 'out/tiny.pth', weights_only=True)
    assert converted['meta']['arch'] == 't'
    assert all(k.startswith('backbone.') for k in converted['state_dict'])
    target = MambaVision('tiny', pretrained=str(tmp_path / 'out/tiny.pth'))
    target.init_weights()
    torch.testing.assert_close(target.levels[2].blocks[0].mixer.A_log, source.levels[2].blocks[0].mixer.A_log)


def test_huggingface_copy_of_base_is_detected(tmp_path):
    huggingface_safetensors(MambaVision('base'), tmp_path / 'model.safetensors')
    assert 'MambaVision-B' in convert(tmp_path / 'model.safetensors', tmp_path / 'base.pth', '--arch', 'base')


def test_unknown_model_and_wrong_arch_are_refused(tmp_path):
    torch.save(MambaVision(**SMALL).state_dict(), tmp_path / 'small_custom.pth')
    out = convert(tmp_path / 'small_custom.pth', tmp_path / 'x.pth', ok=False)
    assert 'matches no MambaVision arch (dim 16, in_dim 8, depths (2, 1, 3, 2), layer scale True)' in out
    torch.save(MambaVision('tiny').state_dict(), tmp_path / 'tiny.pth')
    assert 'holds MambaVision-T, not the requested s' in convert(tmp_path / 'tiny.pth', tmp_path / 'x.pth', '--arch',
                                                                 's', ok=False)
    assert not os.path.exists(tmp_path / 'x.pth')


def test_trust_pickle_is_the_one_explicit_way_to_read_a_refused_file(tmp_path):
    source = randomize(MambaVision('tiny'), seed=6)
    marker = tmp_path / 'marker'
    code_running_checkpoint(tmp_path / 'shared.pth', marker,
                            {f'backbone.{k}': v for k, v in source.state_dict().items()})
    refused = convert(tmp_path / 'shared.pth', tmp_path / 'safe.pth', status=1)
    assert not marker.exists() and not os.path.exists(tmp_path / 'safe.pth')
    assert refused.strip().splitlines()[-1].startswith(
        f'error: {tmp_path / "shared.pth"} was refused: loading it would call posix.system')
    trusted = convert(tmp_path / 'shared.pth', tmp_path / 'safe.pth', '--trust-pickle')
    assert marker.exists()  # trusting the file means running it: the converter says so before it does
    assert 'fully unpickling it (--trust-pickle' in trusted
    assert torch.load(tmp_path / 'safe.pth', weights_only=True)['meta']['note'] == 0  # what os.system returned
    assert "'meta', 'state_dict'" in load_in_fresh_process(tmp_path / 'safe.pth')
    target = MambaVision('tiny', pretrained=str(tmp_path / 'safe.pth'))
    target.init_weights()
    torch.testing.assert_close(target.levels[2].blocks[0].mixer.A_log, source.levels[2].blocks[0].mixer.A_log)
