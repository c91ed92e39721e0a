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

from mambavision_backbone import ARCH_ALIASES, ARCH_SETTINGS, MambaVision
from mambavision_backbone.checkpoint import backbone_state_dict, read_state_dict


def describe(state_dict):
    """(dim, in_dim, depths, has layer scale) read off the tensor shapes, or None."""
    try:
        dim = state_dict['patch_embed.conv_down.3.weight'].shape[0]
        in_dim = state_dict['patch_embed.conv_down.0.weight'].shape[0]
    except KeyError:
        return None
    depths = tuple(len({k.split('.')[3] for k in state_dict if k.startswith(f'levels.{i}.blocks.')})
                   for i in range(4))
    return dim, in_dim, depths, any(k.endswith('gamma_1') for k in state_dict)


def detect_arch(state_dict):
    """The ARCH_SETTINGS key whose model has exactly these tensor names and shapes, or None."""
    found = describe(state_dict)
    for name, s in ARCH_SETTINGS.items():
        if found != (s['dim'], s['in_dim'], tuple(s['depths']), s['layer_scale'] is not None):
            continue
        with torch.device('meta'):
            expected = MambaVision(name).state_dict()
        own = {k: v for k, v in state_dict.items() if not k.startswith('outnorm')}
        if all(k in own and own[k].shape == v.shape for k, v in expected.items() if not k.startswith('outnorm')) \
                and set(own) <= set(expected):
            return name
    return None


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
