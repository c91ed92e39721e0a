"""`make demo`: what the toolbox can do today, on generated data, on CPU.

Builds MambaVision-T as configured for detection and segmentation, runs it on images of awkward sizes,
round-trips its weights through a checkpoint in the published classification layout, and takes a few
training steps with gradient checkpointing. (The detection and segmentation demos join here as the
plugins land.)
"""
import logging
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
from mambavision_backbone import MambaVision, resolve_backend  # noqa: E402


def main():
    logging.basicConfig(level=logging.INFO, format='[%(name)s] %(message)s')
    torch.manual_seed(0)
    print(f'torch {torch.__version__} on {torch.get_num_threads()} CPU threads; '
          f'scan backend: {resolve_backend(None, torch.device("cpu"))}')

    for task, windows, size in (('detection', (8, 8, 112, 56), (333, 500)), ('segmentation', (8, 8, 64, 32), (512, 683))):
        model = MambaVision('tiny', window_size=windows).eval()
        x = torch.randn(1, 3, *size)
        start = time.perf_counter()
        with torch.no_grad():
            feats = model(x)
        print(f'\n{task}: MambaVision-T, windows {windows}, input {size[1]}x{size[0]} '
              f'({time.perf_counter() - start:.2f} s)')
        for i, f in enumerate(feats):
            print(f'  stage {i + 1}: stride {4 * 2 ** i:2d} -> {tuple(f.shape)}')

    print('\ncheckpoint round trip in the published classification layout (module. prefix, head.*, norm.*):')
    source = MambaVision('tiny')
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'mambavision_tiny_1k.pth.tar')
        state = {f'module.{k}': v for k, v in source.state_dict().items() if not k.startswith('outnorm')}
        state.update({'module.head.weight': torch.zeros(1000, 640), 'module.norm.weight': torch.ones(640)})
        torch.save({'state_dict': state}, path)
        target = MambaVision('tiny', pretrained=path)
        target.init_weights()
        same = all(torch.equal(v, source.state_dict()[k]) for k, v in target.state_dict().items()
                   if not k.startswith('outnorm'))
        print(f'  weights identical after loading: {same}')

    print('\nthree training steps (drop path 0.2, gradient checkpointing) at 256x256:')
    model = MambaVision('tiny', window_size=(8, 8, 16, 8), with_cp=True).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(2, 3, 256, 256)
    for step in range(3):
        start = time.perf_counter()
        loss = sum(f.pow(2).mean() for f in model(x))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        print(f'  step {step + 1}: loss {loss.item():.4f} ({time.perf_counter() - start:.2f} s)')


if __name__ == '__main__':
    main()
