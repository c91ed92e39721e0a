# The micro segmentation config with the fine-tuning options of the custom-data templates switched on, as
# configs/mmseg/custom/upernet_mambavision-t_custom.py sets them: layer-wise learning-rate decay (the micro
# backbone has 4 blocks) and an EMA of the weights (a fast one, so that 12 iterations move it measurably).
_base_ = ['upernet_mambavision-micro_toy-shapes-128x128.py']

optim_wrapper = dict(constructor='MambaVisionLayerDecayOptimizerConstructor',
                     paramwise_cfg=dict(decay_rate=0.8, decay_type='layer_wise', num_layers=4))
custom_hooks = _base_.custom_hooks + [dict(type='EMAHook', ema_type='ExponentialMovingAverage', momentum=0.2,
                                           update_buffers=True, priority=49)]
