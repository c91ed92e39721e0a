"""Reading backbone weights from every published file layout."""

import argparse
import collections
import datetime
import random
import struct
import zipfile
from collections import Counter, OrderedDict

import numpy as np
import pytest
import torch

from mambavision_backbone import MambaVision, load_pretrained
from mambavision_backbone.checkpoint import plain_data, torch_load
from mambavision_backbone.errors import CheckpointReadError, UnsafeCheckpointError

from ..helpers.checkpoints import (
    code_running_checkpoint,
    huggingface_bin,
    huggingface_safetensors,
    mm_checkpoint,
    published_classification,
    randomize,
)


@pytest.fixture(scope='module')
def source():
    return randomize(MambaVision('tiny'), seed=3)


@pytest.mark.parametrize('writer, name, outnorms_in_file', [
    (published_classification, 'mambavision_tiny_1k.pth.tar', False),
    (huggingface_bin, 'pytorch_model.bin', True),
    (huggingface_safetensors, 'model.safetensors', True),
    (mm_checkpoint, 'cascade_mask_rcnn.pth', True),
])
def test_published_layouts_load(source, tmp_path, package_logs, writer, name, outnorms_in_file):
    path = str(tmp_path / name)
    writer(source, path)
    target = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=path))
    target.init_weights()
    expected = source.state_dict()
    for key, value in target.state_dict().items():
        if key.startswith('outnorm') and not outnorms_in_file:
            continue
        assert torch.equal(value, expected[key]), key
    summary = [m for m in package_logs if m.startswith('loaded ')]
    assert len(summary) == 1
    if outnorms_in_file:
        assert summary[0].startswith('loaded 253/253 backbone tensors')
        assert summary[0].endswith('missing: none; not in this model: none')
    else:
        assert summary[0].startswith('loaded 245/253') and "'outnorm0.weight'" in summary[0]


def test_published_imagenet_file_loads_without_a_full_unpickle(source, tmp_path, package_logs):
    path = str(tmp_path / 'cls.pth.tar')
    published_classification(source, path)  # holds an argparse.Namespace: on the allow-list
    load_pretrained(MambaVision('tiny'), path)
    assert len(package_logs) == 1 and package_logs[0].startswith('loaded 245/253 backbone tensors'), package_logs


@pytest.mark.parametrize('name', ['mambavision_tiny_1k.pth.tar', 'pytorch_model.bin'])
def test_code_running_file_is_refused_by_init_cfg(source, tmp_path, name):
    path, marker = tmp_path / name, tmp_path / 'marker'
    code_running_checkpoint(path, marker, {f'module.{k}': v for k, v in source.state_dict().items()})
    model = MambaVision('tiny', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError, match=f'^{path} was refused: loading it would call posix.system'):
        model.init_weights()
    assert not marker.exists()


def test_plain_data_keeps_what_a_weights_only_load_takes(tmp_path):
    replaced = []
    value = plain_data({'args': argparse.Namespace(lr=0.1, size=np.int32(3)), 'mean': np.float64(0.5),
                        'shape': (np.int64(2), 3), 'weights': torch.ones(2), 'when': datetime.date(2024, 5, 1),
                        'milestones': Counter({8: 1, 11: 1}), 'order': OrderedDict(a=np.arange(2))}, replaced)
    assert torch.equal(value.pop('weights'), torch.ones(2))
    assert value == {'args': {'lr': 0.1, 'size': 3}, 'mean': 0.5, 'shape': (2, 3),
                     'when': 'datetime.date(2024, 5, 1)', 'milestones': Counter({8: 1, 11: 1}),
                     'order': OrderedDict(a=[0, 1])}
    assert type(value['mean']) is float and type(value['args']['size']) is int
    assert type(value['milestones']) is Counter and type(value['order']) is OrderedDict
    assert replaced == ['when (datetime.date)']
    torch.save(value, tmp_path / 'plain.pth')
    assert torch.load(tmp_path / 'plain.pth', weights_only=True)['shape'] == (2, 3)


def test_shape_mismatch_names_key_and_shapes(source, tmp_path):
    path = str(tmp_path / 'tiny.pth')
    torch.save(source.state_dict(), path)
    with pytest.raises(ValueError, match=r'patch_embed.conv_down.0.weight: checkpoint \(32, 3, 3, 3\) vs model '
                                         r'\(64, 3, 3, 3\)'):
        load_pretrained(MambaVision('small'), path)


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        load_pretrained(MambaVision('tiny'), str(tmp_path / 'nothing.pth'))
    text = tmp_path / 'notes.pth'
    text.write_text('this is not a checkpoint')
    with pytest.raises(ValueError, match='is not a PyTorch checkpoint'):
        load_pretrained(MambaVision('tiny'), str(text))
    torch.save({'epoch': 3}, tmp_path / 'meta_only.pth')
    with pytest.raises(ValueError, match='holds no state dict'):
        load_pretrained(MambaVision('tiny'), str(tmp_path / 'meta_only.pth'))
    torch.save({'decoder.weight': torch.zeros(3)}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='holds no tensor of this backbone'):
        load_pretrained(MambaVision('tiny'), str(tmp_path / 'other.pth'))


def _flip(path, offset, bit=0):
    data = bytearray(open(path, 'rb').read())
    data[offset] ^= 1 << bit
    open(path, 'wb').write(bytes(data))


def test_a_member_damaged_on_disk_is_refused_by_name(tmp_path):
    path = str(tmp_path / 'weights.pth')
    torch.save({'w': torch.arange(256, dtype=torch.float32)}, path)
    with zipfile.ZipFile(path) as archive:
        member = next(info for info in archive.infolist() if info.filename.endswith('data/0'))
        # the member's data follows its 30-byte local header, its name and its extra field (torch's alignment)
        with open(path, 'rb') as f:
            f.seek(member.header_offset + 26)
            name_length, extra_length = struct.unpack('<HH', f.read(4))
        data_offset = member.header_offset + 30 + name_length + extra_length
    _flip(path, data_offset + 100, bit=3)  # one bit of one float: torch alone loads it with no word
    assert not torch.equal(torch.load(path, weights_only=True)['w'], torch.arange(256, dtype=torch.float32))
    with pytest.raises(CheckpointReadError) as refused:
        torch_load(path)
    assert str(refused.value) == (f'{path} is damaged: its member {member.filename} fails its CRC check (the file '
                                  'changed after it was written); fetch or copy it again')


def test_seeded_bit_flips_never_load_altered_weights(tmp_path):
    path, damaged = str(tmp_path / 'weights.pth'), str(tmp_path / 'damaged.pth')
    expected = {'a': torch.randn(32, 32, generator=torch.Generator().manual_seed(0)), 'b': torch.ones(7)}
    torch.save(expected, path)
    original = open(path, 'rb').read()
    outcomes = collections.Counter()
    for seed in range(120):
        rng = random.Random(seed)
        data = bytearray(original)
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        open(damaged, 'wb').write(bytes(data))
        try:
            loaded = torch_load(damaged)
        except CheckpointReadError:
            outcomes['refused'] += 1
            continue
        assert all(torch.equal(loaded[k], v) for k, v in expected.items()), f'seed {seed}: altered weights loaded'
        outcomes['unchanged'] += 1  # a flip in padding or an unused header field
    assert outcomes['refused'] >= 100, outcomes


def test_a_file_written_without_crcs_loads_and_says_so(tmp_path, package_logs):
    path = str(tmp_path / 'no_crc.pth')
    torch.serialization.set_crc32_options(False)
    try:
        torch.save({'w': torch.ones(3)}, path)
    finally:
        torch.serialization.set_crc32_options(True)
    assert torch.equal(torch_load(path)['w'], torch.ones(3))
    assert f'{path} was written without CRCs (torch.serialization.set_crc32_options(False)): its bytes are not ' \
           'checked' in package_logs
