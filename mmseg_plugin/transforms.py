"""A data check for segmentation pipelines."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Stop with the annotation file's name when it holds labels outside the dataset's classes.

    Place it right after ``LoadAnnotations``; without it such labels reach the loss and fail there with
    an index error that names no file. Without an annotation (inference pipelines drop LoadAnnotations)
    it does nothing.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg = results.get('gt_seg_map')
        if seg is None:
            return results
        bad = np.unique(seg[(seg >= self.num_classes) & (seg != self.ignore_index)])
        if bad.size:
            if results.get('reduce_zero_label'):
                raw, allowed = bad + 1, f'0..{self.num_classes} (0 = other, ignored)'
            else:
                raw, allowed = bad, f'0..{self.num_classes - 1} and {self.ignore_index} (ignored)'
            raise ValueError(f"{results.get('seg_map_path')}: label values {raw.tolist()} are outside "
                             f'{allowed} for a dataset of {self.num_classes} classes')
        return results
