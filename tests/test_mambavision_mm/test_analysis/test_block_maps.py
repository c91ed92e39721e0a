"""The query maps are the model's own attention weights and hidden attention, on the right window."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mambavision_backbone import MambaVision
from mambavision_backbone.layers import Attention
from mambavision_mm.analysis.block_maps import attention_rows, query_maps


def test_attention_weights_give_the_blocks_output_per_head():
    torch.manual_seed(0)
    attention = Attention(32, num_heads=4).eval()
    tokens = torch.randn(3, 20, 32)
    weights = attention_rows(attention, tokens, range(20))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 20))
    q, k, v = attention.heads(tokens)
    per_head = weights @ v
    torch.testing.assert_close(per_head, F.scaled_dot_product_attention(q, k, v), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        torch.testing.assert_close(attention.project(per_head), attention(tokens), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(attention_rows(attention, tokens, [7])[:, :, 0], weights[:, :, 7])


def small_model():
    """Stages 3 and 4 of two blocks (a mixer, then attention) with windows 4 and 2: on a 128x96 input stage 3's
    8x6 map holds 2x2 windows, its right column padded."""
    torch.manual_seed(0)
    return MambaVision(arch=None, dim=16, in_dim=16, depths=(1, 1, 2, 2), num_heads=(2, 2, 2, 4),
                       window_size=(8, 8, 4, 2), drop_path_rate=0.0)


@pytest.fixture(scope='module')
def small_maps():
    """The query at (70, 90) px: token (4, 5) at stage 3."""
    return query_maps(small_model(), torch.randn(1, 3, 128, 96), (70.0, 90.0))


def test_the_map_is_the_row_of_the_window_holding_the_query():
    model = small_model()
    image = torch.randn(1, 3, 128, 96)
    captured = []
    model.levels[2].blocks[1].mixer.register_forward_hook(lambda m, args, out: captured.append(args[0]))
    maps = query_maps(model, image, (70.0, 40.0))
    with torch.no_grad():
        weights = attention_rows(model.levels[2].blocks[1].mixer, captured[0], range(16))
    # (70, 40) px is stage-3 token (4, 2): the third window (second row of windows, first column), position 2.
    assert weights.shape == (4, 2, 16, 16)
    np.testing.assert_allclose(maps[1].values.reshape(-1), weights[2, :, 2].mean(0).numpy(), rtol=1e-5)


def test_every_block_of_stages_3_and_4_in_order(small_maps):
    assert [(m.block, m.kind) for m in small_maps] == [
        ('stage3_block0', 'mixer'), ('stage3_block1', 'attention'),
        ('stage4_block0', 'mixer'), ('stage4_block1', 'attention')]


def test_window_geometry_and_padding(small_maps):
    stage3, stage4 = small_maps[1], small_maps[3]

    def geometry(qmap):
        return qmap.stride, qmap.window, qmap.map_size, qmap.query, qmap.origin
    assert geometry(stage3) == (16, 4, (8, 6), (4, 5), (4, 4))
    assert stage3.padded[0].tolist() == [False, False, True, True] and stage3.padded[:, 0].tolist() == [False] * 4
    assert geometry(stage4) == (32, 2, (4, 3), (2, 2), (2, 2))
    assert stage4.padded.tolist() == [[False, True], [False, True]]


def test_attention_maps_sum_to_one_and_the_padded_tokens_take_their_share(small_maps):
    for qmap in small_maps[1], small_maps[3]:
        assert qmap.values.shape == (qmap.window, qmap.window)
        assert qmap.values.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(qmap.per_head.sum(axis=(1, 2)), 1.0, atol=1e-5)
        assert qmap.padded_share == pytest.approx(qmap.values[qmap.padded].sum(), abs=1e-5)
        assert 0 < qmap.padded_share < 1


def test_mixer_maps_see_only_the_tokens_scanned_before_the_query(small_maps):
    stage3 = small_maps[0]
    flat = stage3.values.reshape(-1)
    query = (stage3.query[0] - stage3.origin[0]) * stage3.window + stage3.query[1] - stage3.origin[1]
    assert query == 1
    assert (flat[query + 1:] == 0).all() and (flat[:query + 1] > 0).all()


def test_other_backbones_are_refused():
    with pytest.raises(TypeError, match='need a MambaVision backbone; got Conv2d'):
        query_maps(torch.nn.Conv2d(3, 3, 1), torch.randn(1, 3, 8, 8), (0, 0))
