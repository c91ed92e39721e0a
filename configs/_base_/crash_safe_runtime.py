# The crash-safe runtime that the published MambaVision detection and segmentation configs share
# (docs/crash_safe_training.md); its components are registered by mmdet_plugin and mmseg_plugin alike.
#
# - PlainCheckpointHook: checkpoints of plain data (they load with torch.load(weights_only=True) anywhere);
# - DatasetCheckHook: missing images or annotation maps, unknown COCO categories and heads whose num_classes
#   disagrees with the data stop the run before the first iteration, naming the file or the key;
# - ExactResumeHook: per-iteration seeds from a fixed run seed, so that a resumed run repeats the interrupted one;
# - NonFiniteLossHook: what a NaN/inf loss does, as non_finite_loss says: 'stop' the run, 'skip' the step or
#   'warn' (--cfg-options non_finite_loss=skip);
# - PreemptionHook: SIGTERM/SIGUSR1 (Slurm preemption, torchrun stopping) end the run after the iteration in
#   progress with a checkpoint of it; the same command started again continues from there by itself;
# - CrashSafeRunner: mmengine's Runner, resuming from the checkpoint SafeCheckpointHook chooses (a restarted or
#   preempted run resumes by itself; --resume passes over broken checkpoints);
# - PartialLoadHook: a load_from checkpoint that does not fit (another class count, no mask heads) loads what
#   fits and says in one line what was freshly initialised or left out.
#
# Two settings stay in the configs that inherit this file, because a key may come from one base only and
# mmdet's/mmseg's own bases set these: default_hooks.checkpoint = SafeCheckpointHook (atomic checkpoints,
# checked --resume) and train_dataloader.sampler = SeededSampler around the dataset's own sampler (per-sample
# seeds; unreadable images named, or skipped with skip_bad_samples=True).
randomness = dict(seed=0)
non_finite_loss = 'stop'
custom_hooks = [dict(type='PlainCheckpointHook'), dict(type='DatasetCheckHook'), dict(type='ExactResumeHook'),
                dict(type='NonFiniteLossHook'), dict(type='PartialLoadHook'),
                dict(type='PreemptionHook')]
runner_type = 'CrashSafeRunner'
