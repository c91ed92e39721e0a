"""The command-line options that the scan and backbone benchmarks share, and their checking."""
import argparse
from typing import List, Tuple

import torch

from mambavision_mm.analysis.measure import device_and_backends


def add_scan_benchmark_options(parser: argparse.ArgumentParser, backend_option: str) -> None:
    """--device, --repeats, --full-reference and the option naming the scan backends to time."""
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--full-reference', action='store_true',
                        help="also the reference backend's minutes-long backward passes")
    parser.add_argument(backend_option, nargs='+', help='default: torch and reference, and triton and cuda on GPUs')


def parse_scan_benchmark_options(parser: argparse.ArgumentParser,
                                 backend_option: str) -> Tuple[argparse.Namespace, torch.device, List[str]]:
    """The parsed arguments, the device and the backends; a backend that cannot run there is a usage error."""
    args = parser.parse_args()
    requested = getattr(args, backend_option.lstrip('-').replace('-', '_'))
    try:
        device, backends = device_and_backends(args.device, requested, backend_option)
    except ValueError as error:
        parser.error(str(error))
    return args, device, backends
