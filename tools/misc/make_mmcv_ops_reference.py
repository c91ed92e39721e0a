"""Record what mmcv's compiled RoIAlign and NMS compute, for the tests of their PyTorch versions.

    python tools/misc/make_mmcv_ops_reference.py [--out tests/data/mmcv_ops_reference.pt]

Needs mmcv with compiled ops (``make venv MMCV=compiled``). Writes random and edge-case inputs (RoIs partly
and wholly outside the map, of zero size, tiny and huge, on several feature scales; boxes with tied scores,
identical and zero-area boxes, thousands of boxes) with the compiled kernels' outputs, argmax coordinates,
input gradients and kept indices, so that ``make test`` checks ``mambavision_mm.ops`` against them without
compiled mmcv. The file is small (about 1 MB) and plain data (``torch.load(weights_only=True)``).
"""
import argparse
import itertools
import os

import torch

ROI_SCENES = 6
ROIS_PER_SCENE = 12
NMS_SIZES = (0, 1, 2, 7, 300, 1500)


def compiled_extension():
    from mambavision_mm import compiled_mmcv_ops
    if not compiled_mmcv_ops():
        raise SystemExit('error: this needs mmcv with compiled ops (make venv MMCV=compiled); mmcv here has none')
    import mmcv._ext
    return mmcv._ext


def random_rois(generator, count, batch, height, width, scale):
    """RoIs in image coordinates around a (height, width) map at ``scale``, with the edge cases first."""
    size = torch.tensor([width, height]) / scale
    corner = (torch.rand(count, 2, generator=generator) * 1.6 - 0.3) * size
    extent = torch.rand(count, 2, generator=generator) ** 2 * size
    boxes = torch.cat([corner, corner + extent], 1)
    boxes[0, 2:] = boxes[0, :2]                                 # zero size
    boxes[1] = torch.cat([-3 * size, -2 * size])                # wholly outside, above and left
    boxes[2] = torch.cat([size * 1.1, size * 1.5])              # wholly outside, below and right
    boxes[3] = torch.cat([-0.5 * size, size * 1.5])             # larger than the map
    boxes[4, 2:] = boxes[4, :2] + 0.3                           # smaller than a pixel
    index = torch.randint(0, batch, (count, 1), generator=generator).float()
    return torch.cat([index, boxes], 1)


def roi_align_case(ext, features, rois, output_size, spatial_scale, sampling_ratio, pool_mode, aligned, generator):
    count, channels = rois.shape[0], features.shape[1]
    shape = (count, channels, *output_size)
    output = features.new_zeros(shape)
    argmax_y = features.new_zeros(shape if pool_mode == 0 else 0)
    argmax_x = features.new_zeros(shape if pool_mode == 0 else 0)
    kwargs = dict(aligned_height=output_size[0], aligned_width=output_size[1], spatial_scale=spatial_scale,
                  sampling_ratio=sampling_ratio, pool_mode=pool_mode, aligned=aligned)
    ext.roi_align_forward(features, rois, output, argmax_y, argmax_x, **kwargs)
    grad_output = torch.randn(shape, generator=generator)
    grad_input = features.new_zeros(features.shape)
    ext.roi_align_backward(grad_output, rois, argmax_y, argmax_x, grad_input, **kwargs)
    return dict(kwargs, output=output, argmax_y=argmax_y, argmax_x=argmax_x, grad_output=grad_output,
                grad_input=grad_input)


def roi_align_scenes(ext, generator):
    scenes = []
    for scene in range(ROI_SCENES):
        height, width = torch.randint(4, 21, (2,), generator=generator).tolist()
        features = torch.randn(2, 3, height, width, generator=generator)
        scale = (1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125)[scene]
        rois = random_rois(generator, ROIS_PER_SCENE, 2, height, width, scale)
        output_size = ((7, 7), (2, 3), (1, 1))[scene % 3]
        cases = [roi_align_case(ext, features, rois, output_size, scale, sampling_ratio, pool_mode, aligned, generator)
                 for sampling_ratio, pool_mode, aligned in itertools.product((0, 2), (0, 1), (True, False))]
        scenes.append(dict(features=features, rois=rois, cases=cases))
    return scenes


def nms_cases(ext, generator):
    cases = []
    for count in NMS_SIZES:
        corner = torch.rand(count, 2, generator=generator) * 200
        boxes = torch.cat([corner, corner + torch.rand(count, 2, generator=generator) * 60 + 1], 1)
        scores = torch.rand(count, generator=generator)
        if count >= 7:
            scores[: count // 3] = 0.5                          # ties
            boxes[5] = boxes[4]                                 # identical boxes
            boxes[6, 2:] = boxes[6, :2]                         # zero area
        for iou_threshold, offset in itertools.product((0.3, 0.5, 0.7), (0, 1)):
            keep = ext.nms(boxes, scores, iou_threshold=iou_threshold, offset=offset)
            cases.append(dict(boxes=boxes, scores=scores, iou_threshold=iou_threshold, offset=offset, keep=keep))
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default='tests/data/mmcv_ops_reference.pt')
    args = parser.parse_args()
    ext = compiled_extension()
    generator = torch.Generator().manual_seed(0)
    import mmcv
    reference = dict(mmcv_version=str(mmcv.__version__), torch_version=str(torch.__version__),
                     roi_align=roi_align_scenes(ext, generator), nms=nms_cases(ext, generator))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    torch.save(reference, args.out)
    print(f'wrote {args.out} ({os.path.getsize(args.out) / 1e6:.2f} MB): '
          f"{sum(len(s['cases']) for s in reference['roi_align'])} RoIAlign cases, {len(reference['nms'])} NMS cases")


if __name__ == '__main__':
    main()
