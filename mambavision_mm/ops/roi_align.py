"""RoIAlign in plain PyTorch, with the semantics of mmcv's compiled ``roi_align_forward`` / ``roi_align_backward``.

Each RoI's bin is sampled on a grid of ``sampling_ratio`` x ``sampling_ratio`` points, or, with 0, of
ceil(RoI size / output size) points per axis (adaptive, per RoI); every point is read bilinearly, zero outside
the map's [-1, size] range and clamped to its edge inside it, and a bin is the average (``pool_mode`` 1) or the
maximum (0, which also records the winning point for the backward pass) of its points. ``aligned`` shifts the
RoI by half a pixel; without it a RoI is at least one pixel wide and high.

Work is vectorised over RoIs: RoIs with the same grid are computed together (a loop over the distinct grid
sizes, in chunks that bound memory), channels last so that one gather reads every channel of a point.
"""
from typing import Iterator, Tuple

import torch

# Elements of the largest intermediate (RoIs x sample points x channels) computed at once.
CHUNK_ELEMENTS = 1 << 24
# mmcv's max pooling starts from this value: a bin without points (or with all values below it) gives it.
MAX_POOL_FLOOR = -10000.0


def _roi_geometry(rois: torch.Tensor, output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int,
                  aligned: bool):
    """Each RoI's start (y, x), bin size (h, w) and sample grid (h, w), in the input's floating dtype."""
    offset = 0.5 if aligned else 0.0
    boxes = rois[:, 1:5] * spatial_scale - offset
    start = boxes[:, [1, 0]]
    size = boxes[:, [3, 2]] - start
    if aligned:
        if bool((size < 0).any()):
            raise ValueError('RoIAlign: a RoI has x2 < x1 or y2 < y1 (aligned=True needs non-negative sizes)')
    else:  # mmcv's legacy mode: at least one pixel
        size = size.clamp(min=1.0)
    pooled = size.new_tensor(output_size)
    bin_size = size / pooled
    if sampling_ratio > 0:
        grid = torch.full_like(size, sampling_ratio, dtype=torch.long)
    else:
        grid = torch.ceil(size / pooled).long()
    return start, bin_size, grid


def _sample_coordinates(start, bin_size, bins: int, points: int) -> torch.Tensor:
    """(RoIs, bins * points) coordinates along one axis: bin b, point i at start + b * bin + (i + .5) * bin / points."""
    b = torch.arange(bins, dtype=start.dtype, device=start.device)
    i = torch.arange(points, dtype=start.dtype, device=start.device)
    coords = (start[:, None, None] + b[None, :, None] * bin_size[:, None, None]
              + (i + 0.5)[None, None, :] * bin_size[:, None, None] / points)
    return coords.flatten(1)


def _sample_groups(rois: torch.Tensor, output_size: Tuple[int, int], spatial_scale: float, sampling_ratio: int,
                   aligned: bool, channels: int) -> Iterator[Tuple[torch.Tensor, int, int, torch.Tensor, torch.Tensor]]:
    """(RoI indices, grid h, grid w, y (RoIs, out_h * grid_h), x (RoIs, out_w * grid_w)) for each chunk of RoIs
    that share a sample grid; chunks are small enough that RoIs x points x channels stays within CHUNK_ELEMENTS."""
    out_h, out_w = output_size
    start, bin_size, grid = _roi_geometry(rois, output_size, spatial_scale, sampling_ratio, aligned)
    for grid_h, grid_w in torch.unique(grid, dim=0).tolist():
        members = ((grid[:, 0] == grid_h) & (grid[:, 1] == grid_w)).nonzero().flatten()
        step = max(CHUNK_ELEMENTS // max(out_h * grid_h * out_w * grid_w * channels, 1), 1)
        for begin in range(0, len(members), step):
            chunk = members[begin:begin + step]
            yield (chunk, grid_h, grid_w, _sample_coordinates(start[chunk, 0], bin_size[chunk, 0], out_h, grid_h),
                   _sample_coordinates(start[chunk, 1], bin_size[chunk, 1], out_w, grid_w))


def _bilinear_axis(coords: torch.Tensor, size: int):
    """The two neighbours and their weights along one axis; weights are 0 for points outside [-1, size]."""
    outside = (coords < -1.0) | (coords > size)
    coords = coords.clamp(min=0.0)
    low = coords.floor().long()
    at_edge = low >= size - 1
    low = torch.where(at_edge, torch.full_like(low, size - 1), low)
    high = torch.where(at_edge, low, low + 1)
    coords = torch.where(at_edge, low.to(coords.dtype), coords)
    frac = coords - low
    keep = (~outside).to(coords.dtype)
    return (low, high), ((1.0 - frac) * keep, frac * keep)


def _corners(y, x, height: int, width: int, first_pixel: torch.Tensor):
    """The four (flat pixel index, weight) pairs of each sample point, in mmcv's order of summation."""
    (y_low, y_high), (wy_low, wy_high) = _bilinear_axis(y, height)
    (x_low, x_high), (wx_low, wx_high) = _bilinear_axis(x, width)
    for yi, wy in ((y_low, wy_low), (y_high, wy_high)):
        for xi, wx in ((x_low, wx_low), (x_high, wx_high)):
            index = first_pixel[:, None, None] + yi[:, :, None] * width + xi[:, None, :]
            yield index, wy[:, :, None] * wx[:, None, :]


def _sampled_values(features_flat, y, x, height, width, first_pixel):
    """(RoIs, points y, points x, C): the bilinear value at every sample point."""
    values = None
    for index, weight in _corners(y, x, height, width, first_pixel):
        term = weight[..., None] * features_flat[index]
        values = term if values is None else values + term
    return values


def roi_align_forward(input: torch.Tensor, rois: torch.Tensor, output: torch.Tensor, argmax_y: torch.Tensor,
                      argmax_x: torch.Tensor, aligned_height: int, aligned_width: int, spatial_scale: float,
                      sampling_ratio: int, pool_mode: int, aligned: bool) -> None:
    """Fill ``output`` (RoIs, C, aligned_height, aligned_width); with ``pool_mode`` 0 (max) also ``argmax_y``
    and ``argmax_x``, the coordinates of each bin's winning point."""
    if input.device.type == 'meta' or rois.shape[0] == 0:
        return  # the shapes are all mmcv allocated; there is nothing to compute
    batch, channels, height, width = input.shape
    out_h, out_w = aligned_height, aligned_width
    features_flat = input.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
    first_pixel = rois[:, 0].long() * (height * width)
    max_pool = pool_mode == 0
    groups = _sample_groups(rois, (out_h, out_w), spatial_scale, sampling_ratio, aligned, channels)
    for members, grid_h, grid_w, y, x in groups:
        n = len(members)
        if grid_h * grid_w == 0:  # an empty RoI (aligned): no point to read
            output[members] = MAX_POOL_FLOOR if max_pool else 0.0
            if max_pool:
                argmax_y[members] = -1.0
                argmax_x[members] = -1.0
            continue
        values = _sampled_values(features_flat, y, x, height, width, first_pixel[members])
        values = values.view(n, out_h, grid_h, out_w, grid_w, channels)
        if not max_pool:
            output[members] = (values.sum(dim=(2, 4)) / (grid_h * grid_w)).permute(0, 3, 1, 2).to(output.dtype)
            continue
        points = values.permute(0, 5, 1, 3, 2, 4).reshape(n, channels, out_h, out_w, grid_h * grid_w)
        best, where = points.max(dim=-1)  # the first of equal maxima, as mmcv's strict comparison keeps
        empty = best <= MAX_POOL_FLOOR
        output[members] = torch.where(empty, best.new_tensor(MAX_POOL_FLOOR), best).to(output.dtype)
        rows = torch.arange(out_h, device=y.device)[None, None, :, None] * grid_h + where // grid_w
        cols = torch.arange(out_w, device=x.device)[None, None, None, :] * grid_w + where % grid_w
        chosen_y = torch.gather(y[:, None, :, None].expand(n, channels, -1, out_w), 2, rows)
        chosen_x = torch.gather(x[:, None, None, :].expand(n, channels, out_h, -1), 3, cols)
        argmax_y[members] = torch.where(empty, chosen_y.new_tensor(-1.0), chosen_y).to(argmax_y.dtype)
        argmax_x[members] = torch.where(empty, chosen_x.new_tensor(-1.0), chosen_x).to(argmax_x.dtype)


def roi_align_backward(grad_output: torch.Tensor, rois: torch.Tensor, argmax_y: torch.Tensor,
                       argmax_x: torch.Tensor, grad_input: torch.Tensor, aligned_height: int, aligned_width: int,
                       spatial_scale: float, sampling_ratio: int, pool_mode: int, aligned: bool) -> None:
    """Add to ``grad_input`` (B, C, H, W) the gradient that ``grad_output`` sends through each sample point."""
    if grad_input.device.type == 'meta' or rois.shape[0] == 0:
        return
    batch, channels, height, width = grad_input.shape
    if pool_mode == 0:  # only the winning point of each bin receives its gradient
        n = rois.shape[0]
        plane = (rois[:, 0].long()[:, None] * channels + torch.arange(channels, device=rois.device)) * height
        flat = grad_input.view(-1)
        y = argmax_y.reshape(n * channels, -1)
        x = argmax_x.reshape(n * channels, -1)
        (y_low, y_high), (wy_low, wy_high) = _bilinear_axis(y, height)
        (x_low, x_high), (wx_low, wx_high) = _bilinear_axis(x, width)
        # A bin without a winning point (its argmax is -1) sends nothing, as in mmcv.
        grad = grad_output.reshape(n * channels, -1) * (y != -1.0)
        base = plane.reshape(-1, 1)
        for yi, wy in ((y_low, wy_low), (y_high, wy_high)):
            for xi, wx in ((x_low, wx_low), (x_high, wx_high)):
                flat.index_add_(0, ((base + yi) * width + xi).flatten(), (grad * wy * wx).flatten())
        return
    out_h, out_w = aligned_height, aligned_width
    grad_flat = grad_input.new_zeros(batch * height * width, channels)
    first_pixel = rois[:, 0].long() * (height * width)
    groups = _sample_groups(rois, (out_h, out_w), spatial_scale, sampling_ratio, aligned, channels)
    for members, grid_h, grid_w, y, x in groups:
        if grid_h * grid_w == 0:
            continue
        n = len(members)
        per_point = grad_output[members].permute(0, 2, 3, 1)[:, :, None, :, None, :]
        per_point = per_point.expand(n, out_h, grid_h, out_w, grid_w, channels).reshape(n, y.shape[1], x.shape[1],
                                                                                        channels)
        count = grid_h * grid_w
        for index, weight in _corners(y, x, height, width, first_pixel[members]):
            grad_flat.index_add_(0, index.flatten(), (per_point * weight[..., None] / count).reshape(-1, channels))
    grad_input += grad_flat.view(batch, height, width, channels).permute(0, 3, 1, 2)
