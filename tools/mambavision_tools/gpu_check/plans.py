"""What the GPU check runs: the shapes and repeats per device, and the tolerances of the scan check."""
from dataclasses import dataclass, field

import torch

from mambavision_mm.analysis.scan_shapes import published_scan_shapes

# Largest error relative to the largest reference value: (output, gradients), per input precision. Half inputs
# are rounded before the reference sees them, so what remains is the fp32 arithmetic and the output's rounding.
TOLERANCES = {'fp32': (1e-4, 1e-3), 'autocast': (1e-4, 1e-3), 'bf16': (1e-2, 2e-2), 'fp16': (1e-2, 2e-2)}
INPUT_DTYPES = {'fp32': torch.float32, 'autocast': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}
MODEL_BATCH = 2  # images per GPU in the published detection and segmentation recipes
PUBLISHED_IMAGES_PER_S = 6298  # MambaVision-T at 224x224, batch 128, AMP, one A100 (the paper's table)


@dataclass
class Plan:
    """The shapes and repeats of one run: published sizes on CUDA, small ones on CPU."""
    scan_cases: list        # (what, (B, D, N, L), strong decay)
    scan_speed: list        # (what, (B, D, N, L))
    speed_configs: str      # 'published', or 'toy' (narrower heads, fewer proposals: CPU-sized)
    detection_size: tuple   # (H, W) of the detector's images
    segmentation_size: tuple
    windows: dict = field(default_factory=dict)   # config kind -> window_size override (CPU only)
    classification_batch: int = 128
    iterations: int = 5
    repeats: int = 10


PLANS = {
    'cuda': Plan(
        scan_cases=[('published: classification T, stage 3', (16, 160, 8, 196), False),
                    ('published: detection T, stage 3', (1, 160, 8, 12544), False),
                    ('odd length', (2, 7, 8, 1001), False), ('one chunk', (4, 16, 8, 100), False),
                    ('many chunks', (1, 8, 8, 20000), False), ('strong decay', (1, 16, 8, 5000), True)],
        scan_speed=published_scan_shapes(),
        speed_configs='published', detection_size=(800, 1280), segmentation_size=(512, 512)),
    'cpu': Plan(
        scan_cases=[('odd length', (2, 4, 8, 37), False), ('one chunk', (1, 3, 8, 16), False),
                    ('many chunks', (1, 2, 8, 600), False), ('strong decay', (1, 2, 8, 300), True)],
        scan_speed=published_scan_shapes(classification_batch=4)[:1],
        speed_configs='toy', detection_size=(128, 128), segmentation_size=(128, 128),
        windows={'mmdet': (8, 8, 8, 4), 'mmseg': (8, 8, 8, 4)},
        classification_batch=4, iterations=2, repeats=1),
}


