"""Checkpoints of plain data, which load with ``torch.load(weights_only=True)`` anywhere."""
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS

from mambavision_backbone.checkpoint import plain_data

HISTORY_BUFFER_TAG = '__history_buffer__'


def plain_checkpoint(checkpoint: dict) -> dict:
    """``checkpoint`` (an mmengine checkpoint, changed in place) with its message hub's HistoryBuffers as tagged
    dicts and its meta and message hub as plain data (:func:`plain_data`)."""
    hub = checkpoint.get('message_hub')
    if hub:
        hub['log_scalars'] = {
            name: {HISTORY_BUFFER_TAG: True, 'max_length': buffer.max_length,
                   'log': buffer.data[0].tolist(), 'count': buffer.data[1].tolist()}
            for name, buffer in hub.get('log_scalars', {}).items()}
    for key in ('meta', 'message_hub'):
        if key in checkpoint:
            checkpoint[key] = plain_data(checkpoint[key])
    return checkpoint


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Write checkpoints as plain data, so that they load with ``torch.load(f, weights_only=True)``.

    mmengine pickles HistoryBuffer objects and numpy values into every checkpoint; this hook writes them
    as dicts, lists and numbers (:func:`plain_checkpoint`), and turns the history buffers back when a
    checkpoint is resumed.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        plain_checkpoint(checkpoint)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        scalars = checkpoint.get('message_hub', {}).get('log_scalars', {})
        for name, value in scalars.items():
            if isinstance(value, dict) and value.get(HISTORY_BUFFER_TAG):
                scalars[name] = HistoryBuffer(value['log'], value['count'], value['max_length'])
