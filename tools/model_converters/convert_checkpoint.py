"""Convert a published MambaVision checkpoint into an mmengine checkpoint for `init_cfg` or `load_from`.

    python tools/model_converters/convert_checkpoint.py SRC DST [--arch t|t2|s|b|l|l2|l3]

SRC: a published classification checkpoint (.pth.tar), a Hugging Face copy (.safetensors or .bin) or a
full mmdet/mmseg checkpoint. DST holds {'state_dict': {'backbone.<name>': tensor}, 'meta': {...}} with
plain data only, so it loads with torch.load(weights_only=True). The arch is detected from the tensor
shapes (and checked against --arch when given); a file that matches no arch is refused.
"""
import argparse
import os
import sys

import torch

from mambavision_backbone import ARCH_ALIASES, ARCH_SETTINGS
from mambavision_backbone.checkpoint import backbone_state_dict, describe, detect_arch, read_state_dict


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src')
    parser.add_argument('dst')
    parser.add_argument('--arch', help='expected arch; the detected one must agree')
    args = parser.parse_args()
    state_dict = backbone_state_dict(read_state_dict(args.src))
    arch = detect_arch(state_dict)
    if arch is None:
        found = describe(state_dict)
        detail = ('no MambaVision stem tensors' if found is None else
                  f'dim {found[0]}, in_dim {found[1]}, depths {found[2]}, layer scale {found[3]}')
        sys.exit(f'error: {args.src} matches no MambaVision arch ({detail}); known: {sorted(ARCH_SETTINGS)}')
    if args.arch and ARCH_ALIASES.get(args.arch, args.arch) != arch:
        sys.exit(f'error: {args.src} holds MambaVision-{arch.upper()}, not the requested {args.arch}')
    converted = {'state_dict': {f'backbone.{k}': v.contiguous() for k, v in state_dict.items()},
                 'meta': {'arch': arch, 'source': os.path.basename(args.src)}}
    os.makedirs(os.path.dirname(os.path.abspath(args.dst)), exist_ok=True)
    torch.save(converted, args.dst)
    print(f'{args.src}: MambaVision-{arch.upper()} (detected from the tensor shapes), {len(state_dict)} backbone '
          f'tensors -> {args.dst}')


if __name__ == '__main__':
    main()
