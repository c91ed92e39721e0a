"""The speed sections of the GPU check: the T detector and segmentor beside their Swin-T and ResNet-50
versions, and the MambaVision-T backbone at the classification shape."""
import torch

from mambavision_backbone import MambaVision
from mambavision_mm.analysis.counterparts import COUNTERPARTS, swap_backbone
from mambavision_mm.analysis.measure import backbone_train_step, fmt_mem, measure
from mambavision_mm.testing.batches import synthetic_batch

from .model_checks import build_optim_wrapper, build_train_model
from .plans import MODEL_BATCH, PUBLISHED_IMAGES_PER_S


def model_speed(report, device, plan, configs):
    """A training step and an inference of each detector and segmentor config, timed, with peak memory."""
    precision = 'float16' if device.type == 'cuda' else 'fp32'
    report.heading(f'Speed: models ({precision}, batch {MODEL_BATCH}: a training step and an inference, median of '
                   f'{plan.repeats})')
    if plan.speed_configs == 'toy':
        report.add('On CPU: the toy configs (narrower heads, fewer proposals and RoIs than the published ones).')
        report.add()
    row = report.table(['model', 'backbone', 'input (HxW)', 'params', 'train step', 'train peak mem', 'inference',
                        'inference peak mem'])
    for model_name, (cfg, scope) in configs.items():
        size = plan.detection_size if scope == 'mmdet' else plan.segmentation_size
        variants = [('MambaVision-T', cfg)] + [(n, swap_backbone(cfg, b, c)) for n, (b, c) in COUNTERPARTS.items()]
        for backbone_name, variant in variants:
            if scope == 'mmseg':
                variant.model.data_preprocessor.size = size
            try:
                model = build_train_model(variant, device)
                optim_wrapper = build_optim_wrapper(variant, model, precision)
                batch = synthetic_batch(scope, model, size, MODEL_BATCH, device)
                step, step_mem = measure(lambda: model.train_step(batch, optim_wrapper), device, plan.repeats)
                model.eval()
                with torch.autocast(device.type, dtype=torch.float16, enabled=precision == 'float16'):
                    infer, infer_mem = measure(lambda: model.test_step(batch), device, plan.repeats)
                params = sum(p.numel() for p in model.parameters()) / 1e6
                row([model_name, backbone_name, f'{size[0]}x{size[1]}', f'{params:.1f} M', f'{step:.3f} s',
                     fmt_mem(step_mem), f'{infer:.3f} s', fmt_mem(infer_mem)])
            except Exception as error:
                row([model_name, backbone_name, f'{size[0]}x{size[1]}', '-',
                     report.check(f'speed {model_name} {backbone_name}', False, repr(error)[:200]), '-', '-', '-'])
            if device.type == 'cuda':
                torch.cuda.empty_cache()


def backbone_speed(report, device, plan):
    """MambaVision-T classification throughput at 224x224 beside the published figure."""
    report.heading('Speed: MambaVision-T backbone and classification shape (224x224)')
    row = report.table(['what', 'batch', 'precision', 'time', 'images/s', 'peak memory', 'published'])
    batch = plan.classification_batch
    amp = device.type == 'cuda'
    model = MambaVision('tiny', out_indices=(3,)).to(device).eval()
    head = torch.nn.Linear(model.dims[-1], 1000).to(device)
    x = torch.randn(batch, 3, 224, 224, device=device)

    def classify():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16, enabled=amp):
            head(model(x)[-1].mean((2, 3)))
    seconds, peak = measure(classify, device, plan.repeats)
    row(['classification (backbone + pooling + linear)', batch, 'AMP fp16' if amp else 'fp32', f'{seconds:.3f} s',
         f'{batch / seconds:.0f}', fmt_mem(peak),
         f'{PUBLISHED_IMAGES_PER_S:,} img/s (A100, batch 128, AMP)' if amp else 'not comparable (CPU)'])
    model.train()
    seconds, peak = measure(backbone_train_step(model, x, torch.float16 if amp else None), device, plan.repeats)
    row(['backbone training step', batch, 'AMP fp16' if amp else 'fp32', f'{seconds:.3f} s', f'{batch / seconds:.0f}',
         fmt_mem(peak), '-'])
