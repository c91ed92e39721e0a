"""The (B, D, N, L) of the selective scans that the published models run, for the scan benchmarks."""


def published_scan_shapes(classification_batch: int = 128) -> list:
    """(what, (B, D, N, L)): the stage-3 and stage-4 mixers of the T classifier (224x224), the T detector
    (800x1280, one window per stage) and the S segmentor (512x512 crops in 160x160 windows)."""
    return [('classification T, stage 3', (classification_batch, 160, 8, 196)),
            ('detection T, stage 3', (1, 160, 8, 12544)),
            ('detection T, stage 4', (1, 320, 8, 3136)),
            ('segmentation S, stage 3', (1, 192, 8, 25600))]
