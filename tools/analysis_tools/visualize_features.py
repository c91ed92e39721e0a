"""Each stage's features projected on their three principal components, as an RGB picture beside the image.

    python tools/analysis_tools/visualize_features.py CONFIG [CHECKPOINT] IMAGE --out-dir DIR [--size H W]

CONFIG is an mmdet or mmseg config (any backbone) or a MambaVision arch name. Writes features.png (all stages),
features_stage1..4.png and features.json (per stage, the share of the variance each component explains).
"""
import argparse

from mambavision_tools import visualization_options as options
from mambavision_tools.cli import exit_on_known_errors
from mambavision_tools.visualization import visualize_features


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_model_arguments(parser, 'mmdet/mmseg config, or a MambaVision arch name', image=True)
    options.add_output_options(parser, options.IMAGE_SIZE_HELP)
    args = options.parse_visualization_options(parser)

    def run():
        written = visualize_features(args.config, args.checkpoint, args.image, args.out_dir,
                                     args.cfg_options, args.size)
        print(f'wrote {", ".join(written)} in {args.out_dir}')
    exit_on_known_errors(run)


if __name__ == '__main__':
    main()
