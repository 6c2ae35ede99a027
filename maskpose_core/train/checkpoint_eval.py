"""``evaluate_checkpoint(state, data)``: the metrics of a saved network, the one way.

Every caller that evaluates a checkpoint without training it goes through here: the command
line (``maskpose eval``), the study runner's evaluation rows, the two-stage recipe's
``pseudo_only`` stage (stage 1 on the target). The network is rebuilt from the checkpoint's own
config, or (``cfg``) as the network of another config started from those weights (stage 1
evaluated as the row that starts from it: ``train/fit.build_model``). With an SPP mapping θ in
the checkpoint, its group is added (``<split>_spp/…``).
"""
from __future__ import annotations

from maskpose_core.config import ExperimentConfig
from maskpose_core.data.packed import DataBundle
from maskpose_core.train.evaluate import metrics_from_predictions, predict_split


def _network(state: dict, cfg: ExperimentConfig | None, data):
    from maskpose_core.train.checkpoint import config_of, model_from_checkpoint
    from maskpose_core.train.fit import build_model

    own = config_of(state)
    use = cfg if cfg is not None else own
    split = data.val if isinstance(data, DataBundle) else data
    if split.image_size != own.data.image_size:
        raise ValueError(f"the checkpoint was trained on {own.data.image_size}-px crops (data.image_size), "
                         f"but the data set {split.folder} has {split.image_size}-px crops: evaluate it on data "
                         f"built at {own.data.image_size} px")
    if cfg is None:
        net, _ = model_from_checkpoint(state)
        return net, use
    net = build_model(cfg, data if isinstance(data, DataBundle) else None, init=state)
    net.set_precision(cfg.train.precision)
    net.eval()
    return net, use


def _spp_mapping(state: dict, cfg: ExperimentConfig):
    if state.get("spp") is None:
        return None
    from maskpose_core.model.spp import SPPMapping
    from maskpose_core.skeleton import NUM_JOINTS
    mapping = SPPMapping(num_landmarks=cfg.model.num_landmarks, num_joints=NUM_JOINTS)
    mapping.load_state_dict(state["spp"])
    return mapping.eval()


def evaluate_checkpoint(state: dict, data, *, cfg: ExperimentConfig | None = None, max_samples: int = 0,
                        name: str = "val") -> dict[str, float]:
    """Metrics of the checkpoint ``state`` on ``data``: a DataBundle gives ``val/…`` and, where it
    has a test split, ``test/…``; one split gives ``<name>/…``. Each also ``<split>_spp/…`` when the
    checkpoint holds θ. ``max_samples``: an evenly spread subset of each split (0 = all).
    A checkpoint trained at another crop size is refused naming both sizes."""
    from maskpose_core.train.spp_stage import apply_mapping

    net, use = _network(state, cfg, data)
    mapping = _spp_mapping(state, use)
    splits = ([("val", data.val)] + ([("test", data.test)] if data.test is not None else [])
              if isinstance(data, DataBundle) else [(name, data)])
    out: dict[str, float] = {}
    for prefix, split in splits:
        pred = predict_split(net, split, max_samples=max_samples)
        out.update({f"{prefix}/{k}": v for k, v in metrics_from_predictions(pred, has_labels=split.has_labels).items()})
        if mapping is not None:
            spp = metrics_from_predictions(apply_mapping(mapping, pred), has_labels=split.has_labels)
            out.update({f"{prefix}_spp/{k}": v for k, v in spp.items()})
    return out
