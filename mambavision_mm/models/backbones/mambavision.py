"""The MambaVision backbone as configs build it: a misspelt argument is named with the ones that exist."""
import difflib
import inspect

from mmengine.registry import MODELS

from mambavision_backbone import MambaVision as CoreMambaVision

from ...engine.checkpoint import RUNNER_CHECKPOINT_ALLOW_LIST


# 'MM_mamba_vision' is the name the published configs use.
@MODELS.register_module(name=['MambaVision', 'MM_mamba_vision'])
class MambaVision(CoreMambaVision):
    """:class:`mambavision_backbone.MambaVision`, built from config keywords that are checked first.

    Python's own error names an unknown keyword but not the known ones; a config's
    ``backbone=dict(drop_path_rat=0.2)`` fails here with the closest argument and the full list. Its
    ``init_cfg`` checkpoint may be an mmengine runner file (a detector's or segmentor's).
    """

    checkpoint_allow_list = RUNNER_CHECKPOINT_ALLOW_LIST

    def __init__(self, **kwargs):
        known = [name for name in inspect.signature(CoreMambaVision.__init__).parameters if name != 'self']
        for name in kwargs:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f' (did you mean {close[0]!r}?)' if close else ''
                raise TypeError(f'MambaVision has no argument {name!r}{hint}; its arguments are {", ".join(known)}')
        super().__init__(**kwargs)
