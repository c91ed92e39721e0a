"""Reproduce the published tables: every model of a zoo (OpenMMLab's model-index schema) with published weights
and results, evaluated as tools/test.py evaluates it and compared metric by metric, with a verdict per row.

    python tools/reproduce.py [--index INDEX] [--models NAME ...] [--work-dir work_dirs/reproduce]
        [--data-root coco=DIR ade20k=DIR] [--tolerance 0.3] [--force] [--cfg-options ...]
    tools/dist_reproduce.sh GPUS [options]        several GPUs (torchrun); tools/slurm_reproduce.sh on Slurm

Writes WORK_DIR/reproduction.json and reproduction.md after every model; the same command again keeps every
finished model and retries the failed ones. Exit status 0 only when every evaluated model reproduced.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

from mambavision_mm.apis.inputs import InputError
from mambavision_mm.apis.launcher import finish_distributed
from mambavision_tools.reproduce import Options, run

# The zoo beside the tools: the repository's, or the one installed with the package (its .mim folder).
ZOO = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)), '..', 'model-index.yml'))


def data_roots(pairs):
    roots = {}
    for pair in pairs or []:
        name, sep, folder = pair.partition('=')
        if not sep or not name or not folder:
            raise argparse.ArgumentTypeError(f'--data-root takes DATASET=DIR pairs (coco=data/coco); got {pair!r}')
        roots[name.lower()] = folder
    return roots


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--index', default=ZOO, help="the model index (default: this toolbox's zoo, model-index.yml)")
    parser.add_argument('--models', nargs='+', default=[], metavar='NAME', help='these models only')
    parser.add_argument('--work-dir', default='work_dirs/reproduce', help='where the results and logs go')
    parser.add_argument('--data-root', nargs='+', metavar='DATASET=DIR',
                        help="dataset folders, e.g. coco=data/coco ade20k=data/ade (default: the configs' own)")
    parser.add_argument('--tolerance', type=float, default=0.3, help='points a metric may differ (default 0.3)')
    parser.add_argument('--force', action='store_true', help='measure finished models again')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides for every model')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    try:
        roots = data_roots(args.data_root)
    except argparse.ArgumentTypeError as error:
        parser.error(str(error))
    if args.tolerance < 0:
        parser.error('--tolerance must be >= 0')
    options = Options(index=args.index, models=args.models, work_dir=args.work_dir, data_roots=roots,
                      cfg_options=args.cfg_options, tolerance=args.tolerance, force=args.force, launcher=args.launcher)
    try:
        status = run(options)
    except InputError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    finish_distributed()
    return status


if __name__ == '__main__':
    sys.exit(main())
