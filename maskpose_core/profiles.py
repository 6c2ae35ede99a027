"""Profile presets: sizes only. smoke = tests (seconds), quick = 2 CPU cores (minutes),
paper = GPU cluster at the paper's sizes (256 px, ResNet-50)."""
from __future__ import annotations

PROFILE_OVERRIDES: dict[str, dict[str, object]] = {
    "smoke": {
        "data.image_size": 32, "data.train_frames": 256, "data.val_frames": 64,
        "data.test_frames": 64, "data.pseudo_frames": 256,
        "model.backbone": "tiny", "model.width": 8, "model.heatmap_size": 8, "model.heatmap_depth": 8,
        "model.physique_width": 8,
        "loss.render_size": 16,
        "optim.batch_size": 8,
        "train.epochs": 2, "train.steps_per_epoch": 4, "train.val_samples": 32, "train.spp_epochs": 20,
    },
    "quick": {
        "data.image_size": 64, "data.train_frames": 8000, "data.val_frames": 1000,
        "data.test_frames": 1000, "data.pseudo_frames": 8000,
        "model.backbone": "resnet_small", "model.width": 32, "model.heatmap_size": 16,
        "model.heatmap_depth": 16, "model.physique_width": 8,
        "loss.render_size": 32,
        "optim.batch_size": 32,
        "train.epochs": 2, "train.val_samples": 200,
    },
    "paper": {
        "data.image_size": 256, "data.train_frames": 0, "data.val_frames": 0, "data.test_frames": 0,
        "data.pseudo_frames": 0,
        "model.backbone": "resnet50", "model.input": "image", "model.width": 64, "model.heatmap_size": 64,
        "model.heatmap_depth": 64,
        "loss.render_size": 64, "loss.sigma2": 3e-3, "loss.sigma2_start": 2e-2,
        "optim.batch_size": 32, "optim.lr": 1e-3,
        "train.epochs": 140, "train.device": "cuda",
    },
}
