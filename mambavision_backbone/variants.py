"""The published MambaVision variants and how an ``arch`` argument names one."""

# Published ImageNet configurations, each complete: its aliases and every architecture hyper-parameter.
# window_size holds the classification windows; dense-prediction configs pass their own.
_CLASSIFICATION_WINDOWS = (8, 8, 14, 7)
ARCH_SETTINGS = {
    't': dict(aliases=('tiny',), dim=80, in_dim=32, depths=(1, 3, 8, 4), num_heads=(2, 4, 8, 16),
              window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=None),
    't2': dict(aliases=('tiny2',), dim=80, in_dim=32, depths=(1, 3, 11, 4), num_heads=(2, 4, 8, 16),
               window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=None),
    's': dict(aliases=('small',), dim=96, in_dim=64, depths=(3, 3, 7, 5), num_heads=(2, 4, 8, 16),
              window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=None),
    'b': dict(aliases=('base',), dim=128, in_dim=64, depths=(3, 3, 10, 5), num_heads=(2, 4, 8, 16),
              window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=1e-5),
    'l': dict(aliases=('large',), dim=196, in_dim=64, depths=(3, 3, 10, 5), num_heads=(4, 8, 16, 32),
              window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=1e-5),
    'l2': dict(aliases=('large2',), dim=196, in_dim=64, depths=(3, 3, 12, 5), num_heads=(4, 8, 16, 32),
               window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=1e-5),
    'l3': dict(aliases=('large3',), dim=256, in_dim=64, depths=(3, 3, 20, 10), num_heads=(4, 8, 16, 32),
               window_size=_CLASSIFICATION_WINDOWS, mlp_ratio=4.0, layer_scale=1e-5),
}
ARCH_ALIASES = {alias: name for name, setting in ARCH_SETTINGS.items() for alias in setting['aliases']}
# What an arch given as a dict must hold, and what it may add (the defaults of the published models otherwise).
ESSENTIAL_ARCH_KEYS = ('dim', 'in_dim', 'depths', 'num_heads', 'window_size')
OPTIONAL_ARCH_KEYS = {'mlp_ratio': 4.0, 'layer_scale': None}

def resolve_arch(arch) -> dict:
    """The hyper-parameters of ``arch``: a name or alias of :data:`ARCH_SETTINGS`, a dict of the essential keys
    (and optionally mlp_ratio and layer_scale), or None (everything given as arguments)."""
    if arch is None:
        return {}
    if isinstance(arch, dict):
        unknown = sorted(set(arch) - set(ESSENTIAL_ARCH_KEYS) - set(OPTIONAL_ARCH_KEYS))
        missing = [k for k in ESSENTIAL_ARCH_KEYS if k not in arch]
        if unknown or missing:
            raise ValueError(f'a MambaVision arch given as a dict needs {list(ESSENTIAL_ARCH_KEYS)} and may add '
                             f'{list(OPTIONAL_ARCH_KEYS)}; missing {missing}, unknown {unknown}')
        return {**OPTIONAL_ARCH_KEYS, **arch}
    key = str(arch).lower()
    key = ARCH_ALIASES.get(key, key)
    if key not in ARCH_SETTINGS:
        names = sorted(set(ARCH_SETTINGS) | set(ARCH_ALIASES))
        raise ValueError(f'unknown MambaVision arch {arch!r}; choose one of {names}, give a dict of '
                         f'{list(ESSENTIAL_ARCH_KEYS)}, or pass arch=None with those as arguments')
    return {k: v for k, v in ARCH_SETTINGS[key].items() if k != 'aliases'}
