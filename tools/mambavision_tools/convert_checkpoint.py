"""Convert a checkpoint into one that loads safely everywhere (``torch.load(weights_only=True)``).

    python tools/model_converters/convert_checkpoint.py SRC DST [--arch t|t2|s|b|l|l2|l3]
    python tools/model_converters/convert_checkpoint.py SRC DST --trust-pickle

or, after ``pip install`` without a checkout, ``python -m mambavision_tools.convert_checkpoint`` with the same
arguments.

Without --trust-pickle: SRC is a published classification checkpoint (.pth.tar), a Hugging Face copy
(.safetensors or .bin) or a full mmdet/mmseg checkpoint, read safely; DST holds its backbone for `init_cfg`
or `load_from`: {'state_dict': {'backbone.<name>': tensor}, 'meta': {...}}. The arch is detected from the
tensor shapes (and checked against --arch when given); a file that matches no arch is refused.

With --trust-pickle: for a file that the safe loaders refuse because it pickles other objects, and that you
trust (unpickling it can run code). SRC is fully unpickled, once, and DST is the whole checkpoint as plain
tensors and data (numpy values as numbers, other objects as their text), which then loads safely in every
entry point.
"""
import argparse
import os
import sys

import torch

from mambavision_backbone import ARCH_ALIASES, ARCH_SETTINGS
from mambavision_backbone.checkpoint import backbone_state_dict, plain_data, read_state_dict, torch_load
from mambavision_backbone.model import describe, detect_arch
from mambavision_mm.engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST
from mambavision_mm.engine.hooks.plain_checkpoint_hook import plain_checkpoint


def save(checkpoint, dst: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save(checkpoint, dst)


def make_safe_copy(src: str, dst: str) -> None:
    """Fully unpickle the trusted ``src`` and write it to ``dst`` as plain data, checked to load safely."""
    print(f'{src}: fully unpickling it (--trust-pickle: this runs whatever code the file holds)')
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    if isinstance(checkpoint, dict) and 'message_hub' in checkpoint:
        checkpoint = plain_checkpoint(checkpoint)
    replaced = []
    checkpoint = plain_data(checkpoint, replaced)
    save(checkpoint, dst)
    torch_load(dst, allow_list=RUNNER_CHECKPOINT_ALLOW_LIST)
    print(f'-> {dst}: plain tensors and data, loads with weights_only=True'
          + (f'; written as text: {", ".join(replaced)}' if replaced else ''))


def convert_backbone(src: str, dst: str, expected_arch: str = None) -> None:
    """Write the MambaVision backbone of ``src`` to ``dst`` as an mmengine checkpoint (``backbone.*`` keys)."""
    state_dict = backbone_state_dict(read_state_dict(src, RUNNER_CHECKPOINT_ALLOW_LIST))
    arch = detect_arch(state_dict)
    if arch is None:
        found = describe(state_dict)
        detail = ('no MambaVision stem tensors' if found is None else
                  f'dim {found[0]}, in_dim {found[1]}, depths {found[2]}, layer scale {found[3]}')
        sys.exit(f'error: {src} matches no MambaVision arch ({detail}); known: {sorted(ARCH_SETTINGS)}')
    if expected_arch and ARCH_ALIASES.get(expected_arch, expected_arch) != arch:
        sys.exit(f'error: {src} holds MambaVision-{arch.upper()}, not the requested {expected_arch}')
    save({'state_dict': {f'backbone.{k}': v.contiguous() for k, v in state_dict.items()},
          'meta': {'arch': arch, 'source': os.path.basename(src)}}, dst)
    print(f'{src}: MambaVision-{arch.upper()} (detected from the tensor shapes), {len(state_dict)} backbone '
          f'tensors -> {dst}')


def main():
    """Parse the arguments and convert; a file that cannot be converted exits with one line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--arch', help='expected arch; the detected one must agree')
    parser.add_argument('--trust-pickle', action='store_true',
                        help='fully unpickle SRC (only for a file you trust) and write all of it as plain data')
    args = parser.parse_args()
    if args.trust_pickle and args.arch:
        parser.error('--arch checks the backbone conversion; --trust-pickle copies the whole file')
    try:
        if args.trust_pickle:
            make_safe_copy(args.src, args.dst)
        else:
            convert_backbone(args.src, args.dst, args.arch)
    except (FileNotFoundError, ValueError) as exc:
        sys.exit(f'error: {exc}')


if __name__ == '__main__':
    main()
