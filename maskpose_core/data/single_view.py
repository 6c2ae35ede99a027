"""A multi-view split seen as independent single-view samples: mask-only, one camera each.

The in-the-wild setting (docs/method.md §2, issue 5's in_the_wild study): images of another domain
with a foreground mask each and no multi-view geometry. ``SingleViews(split)[i]`` is view
``i % C`` of moment ``i // C`` with the view axis kept at length 1, so a batch of them has
the same layout as a multi-view batch with C = 1 and the same loss code applies (each
prediction rendered into its own view only; no consistency or triangulation term).

The synthetic rigs keep their intrinsics and root depth (the camera that filmed the frame);
the ``wild`` loader's nominal camera is used as it is. 3D labels are carried along but the
training loss never reads them.
"""
from __future__ import annotations

import torch

from maskpose_core.data.packed import PackedSplit

# keys of PackedSplit.__getitem__ with a leading view axis (C, ...); the rest are per moment
PER_VIEW_KEYS = ("image", "mask", "geodesic", "K", "R", "t_mm", "joints_cam_mm", "joints_2d_norm")


class SingleViews(torch.utils.data.Dataset):
    """len = moments × C; item i: every per-view tensor of ``split[i // C]`` sliced to view i % C.

    image (1, 3, S, S); mask, geodesic (1, S, S); K, R (1, 3, 3); t_mm (1, 3);
    joints_cam_mm (1, J, 3); joints_2d_norm (1, J, 2); root_world_mm (3,); joints_world_mm (J, 3);
    index () long (the moment); view () long.
    """

    def __init__(self, split: PackedSplit):
        self.split = split
        self.num_views = split.num_views
        self.image_size = split.image_size

    def __len__(self) -> int:
        return len(self.split) * self.num_views

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not 0 <= i < len(self):
            raise IndexError(f"SingleViews index {i} out of range for {len(self)} single views")
        moment, view = divmod(int(i), self.num_views)
        item = self.split[moment]
        for k in PER_VIEW_KEYS:
            item[k] = item[k][view:view + 1]
        item["view"] = torch.tensor(view, dtype=torch.long)
        return item
