# The micro detection config with the fine-tuning options of the custom-data templates switched on, as
# configs/mmdet/custom/cascade-mask-rcnn_mambavision-t_fpn_custom.py sets them: layer-wise learning-rate decay
# (the micro backbone has 4 blocks) and mmdet's ExpMomentumEMA (a fast one, so that a few iterations move it).
_base_ = ['cascade-mask-rcnn_mambavision-micro_toy-shapes.py']

optim_wrapper = dict(constructor='MambaVisionLayerDecayOptimizerConstructor',
                     paramwise_cfg=dict(decay_rate=0.8, decay_type='stage_wise', num_layers=4))
custom_hooks = _base_.custom_hooks + [dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.2,
                                           update_buffers=True, priority=49)]
train_cfg = dict(max_epochs=1)
