"""A model zoo in OpenMMLab's model-index schema (``model-index.yml`` and the metafiles it imports), read as
mim and mmdet's regression scripts read it."""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import yaml

from .inputs import InputError


@dataclass(frozen=True)
class ZooModel:
    """One ``Models`` entry: its config (a path), its weights (a URL or path, or None), and the task, dataset
    and metrics of its published ``Results``."""

    name: str
    config: str
    weights: Optional[str]
    task: Optional[str] = None
    dataset: Optional[str] = None
    metrics: Dict[str, float] = field(default_factory=dict)

    @property
    def published(self) -> bool:
        """Whether the entry has weights and published figures to compare with."""
        return bool(self.weights and self.metrics)


def _read_yaml(path: str) -> dict:
    try:
        with open(path) as f:
            content = yaml.safe_load(f)
    except FileNotFoundError:
        raise InputError(f'model index {path} does not exist') from None
    except yaml.YAMLError as error:
        raise InputError(f'model index {path} is not YAML: {str(error).splitlines()[0]}') from None
    if not isinstance(content, dict):
        raise InputError(f'model index {path} holds no mapping (expected Import: and/or Models:)')
    return content


def _entries(path: str, seen: List[str]) -> List[dict]:
    """The Models of ``path`` and of every file it imports (paths relative to the importing file), in order."""
    path = osp.abspath(path)
    if path in seen:
        raise InputError(f'model index {path} imports itself (through {" -> ".join(seen)})')
    content = _read_yaml(path)
    entries = []
    for imported in content.get('Import') or []:
        entries += _entries(osp.join(osp.dirname(path), imported), seen + [path])
    return entries + list(content.get('Models') or [])


def read_model_index(path: str) -> List[ZooModel]:
    """Every model of the index at ``path`` and its imports, in order; Config paths relative to the folder of
    ``path`` (as ours are to the repository root). InputError for a file that is missing or not an index, an
    entry without a name or config, or a name given twice."""
    root = osp.dirname(osp.abspath(path))
    models, names = [], set()
    for entry in _entries(path, []):
        name, config = entry.get('Name'), entry.get('Config')
        if not name or not config:
            raise InputError(f'model index {path}: an entry without Name or Config ({entry})')
        if name in names:
            raise InputError(f'model index {path}: the model {name} is listed twice')
        names.add(name)
        results = entry.get('Results') or []
        metrics = {metric: float(value)
                   for result in results for metric, value in (result.get('Metrics') or {}).items()}
        first = results[0] if results else {}
        models.append(ZooModel(name=name, config=osp.normpath(osp.join(root, config)), weights=entry.get('Weights'),
                               task=first.get('Task'), dataset=first.get('Dataset'), metrics=metrics))
    return models
