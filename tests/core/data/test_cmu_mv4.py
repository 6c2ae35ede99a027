"""cmu-mv4 benchmark: cameras, rendering symmetry, splits, builds (cache, determinism,
atomicity), poses-file validation, label/mask agreement and G."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from maskpose_core import geometry
from maskpose_core.data.cmu_mv4 import (GeneratorConfig, build_cmu_mv4, generator_config, preview,
                                        quality_report, render_moment)
from maskpose_core.data.cmu_mv4 import build as build_mod
from maskpose_core.data.cmu_mv4 import raster, rig
from maskpose_core.data.cmu_mv4.body import sample_body
from maskpose_core.data.cmu_mv4.config import (EMBEDDED_POSES, PSEUDO_SUBJECTS, SALSA_SUBJECTS, TARGET_TRAIN_SUBJECTS,
                                             TEST_SUBJECTS, VAL_SUBJECTS)
from maskpose_core.data.cmu_mv4.frames import load_poses, select_frames
from maskpose_core.data.configs import DataConfig
from maskpose_core.data.packed import PackedSplit, read_meta

POSES = np.load(EMBEDDED_POSES)["poses"]


@pytest.fixture(scope="module")
def small_build(tmp_path_factory) -> Path:
    """A 64 px build with a few moments (the quick profile's resolution)."""
    cfg = DataConfig(image_size=64, train_frames=4, val_frames=24, test_frames=4)
    return build_cmu_mv4(cfg, root=tmp_path_factory.mktemp("mv4"), workers=1, progress=False)


@pytest.mark.parametrize("rig_name", ["h36m", "3dhp"])
def test_rig_cameras_round_trip_and_match_geometry(rig_name):
    rng = np.random.default_rng(0)
    root = np.array([300.0, 900.0, -200.0])
    R, t = rig.sample_rig(rig_name, root, 0.0, rng)
    assert R.shape == (len(rig.RIGS[rig_name].azimuth_deg), 3, 3)
    assert np.allclose(R @ R.transpose(0, 2, 1), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    assert (R[:, 1] @ rig.UP < 0).all()          # world up is image up: people stand upright
    K = rig.crop_intrinsics(R, t, root, 2200.0, 64)
    pts = root + rng.uniform(-800, 800, (20, 3))
    cam = rig.world_to_camera(pts, R, t)
    uv = rig.project(cam, K)
    Kt, Rt, tt = (torch.from_numpy(a) for a in (K, R, t))
    cam_t = geometry.world_to_camera(torch.from_numpy(pts)[None].expand(len(R), -1, -1), Rt, tt)
    assert np.allclose(cam_t.numpy(), cam)
    assert np.allclose(geometry.project_to_pixels(cam_t, Kt).numpy(), uv)
    back = geometry.camera_to_world(geometry.unproject_pixels(torch.from_numpy(uv), cam_t[..., 2], Kt), Rt, tt)
    assert np.allclose(back.numpy(), pts[None].repeat(len(R), 0), atol=1e-6)
    # the root lands on the crop centre (normalised 0, 0)
    root_uv = rig.project(rig.world_to_camera(root[None], R, t), K)
    assert np.allclose(rig.pixels_to_normalized(root_uv, 64), 0.0, atol=1e-9)
    # look_at agrees with geometry.look_at
    pos, target = np.array([4000.0, 1500.0, 1000.0]), np.array([0.0, 900.0, 0.0])
    Rg, tg = geometry.look_at(torch.from_numpy(pos), torch.from_numpy(target))
    Rn, tn = rig.look_at(pos, target)
    assert np.allclose(Rg.numpy(), Rn) and np.allclose(tg.numpy(), tn)


# A silhouette seen from opposite sides is an exact mirror image under orthographic
# projection; perspective breaks it by the depth extent / distance (±300 mm at 4.5 m:
# limbs shift by ~7 %, IoU ≈ 0.85 measured), so the bound is looser at rig distance.
@pytest.mark.parametrize("frame", [1234, 20000])
@pytest.mark.parametrize("distance_mm, min_iou", [(4500.0, 0.8), (20000.0, 0.95)])
def test_opposite_cameras_see_mirrored_masks(frame, distance_mm, min_iou):
    gen = GeneratorConfig(image_size=64)
    joints, prims = sample_body(gen, POSES[frame], np.random.default_rng(1))
    pelvis = joints[0]
    masks = []
    for side in (+1.0, -1.0):   # same distance and height, opposite sides, aiming at the pelvis
        pos = pelvis + np.array([side * distance_mm, 0.0, 0.0])
        R, t = rig.look_at(pos, pelvis)
        K = rig.crop_intrinsics(R[None], t[None], pelvis, gen.crop_mm, gen.image_size)[0]
        masks.append(raster.hit_mask(prims.transformed(R, t), K, gen.image_size))
    front, back = masks[0], masks[1][:, ::-1]
    iou = (front & back).sum() / (front | back).sum()
    assert front.sum() > 200 and iou >= min_iou, iou


@pytest.mark.parametrize("dataset", ["cmu-mv4", "pseudo"])
@pytest.mark.parametrize("train, val", [(8000, 1000), (0, 0)])
def test_no_subject_in_two_splits_or_two_sets(dataset, train, val):
    """Four-way subject split of the embedded file: target train / val / test and the pseudo
    source never share a subject; salsa is capped in a sampled split."""
    gen = generator_config(DataConfig(dataset=dataset, train_frames=train, val_frames=val, test_frames=val))
    src = load_poses(gen)
    frames = select_frames(gen, src)
    subjects = {k: set(src.subject[v]) for k, v in frames.items()}
    assert all(not (subjects[a] & subjects[b]) for a in subjects for b in subjects if a < b)
    assert subjects["val"] == set(gen.val_subjects)
    if dataset == "cmu-mv4":
        assert subjects["train"] == set(TARGET_TRAIN_SUBJECTS) and subjects["test"] == set(TEST_SUBJECTS)
    else:   # the pseudo source: only subjects in none of the target's splits
        assert set().union(*subjects.values()) == set(PSEUDO_SUBJECTS) and "test" not in frames
    assert not src.near_duplicate[np.concatenate(list(frames.values()))].any()
    if train:
        # the salsa cap (a share of the budget), then every other frame the train subjects have
        others = (~np.isin(src.subject, SALSA_SUBJECTS) & ~src.near_duplicate
                  & np.isin(src.subject, list(subjects["train"]))).sum()
        cap = int(gen.max_salsa_share * train)
        assert len(frames["train"]) == min(train, cap + others) and len(frames["val"]) <= val
        assert np.isin(src.subject[frames["train"]], SALSA_SUBJECTS).sum() == cap


def test_the_four_subject_sets_cover_the_embedded_file_by_frames():
    src = load_poses(generator_config(DataConfig()))
    named = set(VAL_SUBJECTS) | set(TEST_SUBJECTS) | set(TARGET_TRAIN_SUBJECTS) | set(PSEUDO_SUBJECTS)
    assert named == set(src.subject) and len(named) == 21
    assert len(set(VAL_SUBJECTS) | set(TEST_SUBJECTS) | set(TARGET_TRAIN_SUBJECTS) | set(PSEUDO_SUBJECTS)) \
        == len(VAL_SUBJECTS) + len(TEST_SUBJECTS) + len(TARGET_TRAIN_SUBJECTS) + len(PSEUDO_SUBJECTS)
    frames = {name: (np.isin(src.subject, s) & ~src.near_duplicate).sum()
              for name, s in [("val", VAL_SUBJECTS), ("test", TEST_SUBJECTS), ("train", TARGET_TRAIN_SUBJECTS),
                              ("pseudo", PSEUDO_SUBJECTS)]}
    assert frames == {"val": 3632, "test": 3506, "train": 16220, "pseudo": 14534}   # the module's docstring


def test_build_is_byte_identical_and_cached(tmp_path):
    cfg = DataConfig(image_size=32, train_frames=6, val_frames=3, test_frames=3, mask_noise=0.5)
    a = build_cmu_mv4(cfg, root=tmp_path / "a", workers=2, progress=False)
    b = build_cmu_mv4(cfg, root=tmp_path / "b", workers=1, progress=False)
    assert a.name == b.name
    files = sorted(p.relative_to(a) for p in a.rglob("*.npy"))
    assert Path("test/masks_exact.npy") in files and len(files) == 3 * 12
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    meta_mtime = (a / "meta.json").stat().st_mtime_ns
    assert build_cmu_mv4(cfg, root=tmp_path / "a", workers=2, progress=False) == a
    assert (a / "meta.json").stat().st_mtime_ns == meta_mtime
    meta = read_meta(a)
    assert meta["hash"].startswith(a.name.rsplit("-", 1)[1]) and meta["num_views"] == 4
    assert meta["has_labels"] and meta["has_cameras"] and "mocap.cs.cmu.edu" in meta["mocap_acknowledgement"]
    assert meta["splits"] == {"train": 6, "val": 3, "test": 3} and meta["val_subjects"] == ["cmu85", "cmu14", "cmu07"]
    ds = PackedSplit(a, "val")
    assert ds[0]["image"].shape == (4, 3, 32, 32)


@pytest.mark.parametrize("scratch", [False, True])
def test_failed_build_leaves_no_folder(tmp_path, monkeypatch, scratch):
    calls = {"n": 0}
    real = build_mod.render_moment

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 3:
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(build_mod, "render_moment", flaky)
    if scratch:
        monkeypatch.setattr(build_mod, "IN_MEMORY_LIMIT_BYTES", 0)
    with pytest.raises(RuntimeError, match="injected"):
        build_cmu_mv4(DataConfig(image_size=32, train_frames=4, val_frames=2, test_frames=2), root=tmp_path,
                      workers=1, progress=False)
    # nothing remains: no output folder, no temp or scratch folder, no lock file
    assert list(tmp_path.iterdir()) == []


def test_concurrent_builds_of_one_folder_build_once(tmp_path, monkeypatch):
    builds = []
    real = build_mod._build
    monkeypatch.setattr(build_mod, "_build", lambda *a, **k: (builds.append(1), real(*a, **k)))
    cfg = DataConfig(image_size=32, train_frames=2, val_frames=2, test_frames=2)
    with ThreadPoolExecutor(2) as ex:
        folders = list(ex.map(lambda _: build_cmu_mv4(cfg, root=tmp_path, workers=1, progress=False), range(2)))
    assert folders[0] == folders[1] and len(builds) == 1
    assert PackedSplit(folders[0], "train")[1]["mask"].sum() > 0


def _write_poses(path: Path, **arrays) -> str:
    np.savez(path, **arrays)
    return str(path)


def test_bad_poses_files_raise_naming_the_file(tmp_path):
    wrong = _write_poses(tmp_path / "wrong.npz", poses=np.zeros((5, 16, 3), np.float32))
    with pytest.raises(ValueError, match=r"wrong\.npz.*'poses'.*\(5, 16, 3\)"):
        build_cmu_mv4(DataConfig(poses=wrong, split_all=True), root=tmp_path, progress=False)
    p = POSES[:4].copy()
    p[2, 5, 1] = np.nan
    nan = _write_poses(tmp_path / "nan.npz", poses=p)
    with pytest.raises(ValueError, match=r"nan\.npz.*NaN.*frame 2"):
        build_cmu_mv4(DataConfig(poses=nan, split_all=True), root=tmp_path, progress=False)
    no_key = _write_poses(tmp_path / "nokey.npz", joints=POSES[:4])
    with pytest.raises(ValueError, match=r"nokey\.npz.*'poses'"):
        build_cmu_mv4(DataConfig(poses=no_key, split_all=True), root=tmp_path, progress=False)
    no_subject = _write_poses(tmp_path / "nosubj.npz", poses=POSES[:4])
    with pytest.raises(ValueError, match=r"nosubj\.npz.*'subject'"):
        build_cmu_mv4(DataConfig(poses=no_subject), root=tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".npz") == \
        ["nan.npz", "nokey.npz", "nosubj.npz", "wrong.npz"]
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


def test_poses_file_split_all(tmp_path):
    path = _write_poses(tmp_path / "mine.npz", poses=POSES[100:105].astype(np.float64))
    folder = build_cmu_mv4(DataConfig(poses=path, split_all=True, image_size=32), root=tmp_path / "out",
                           workers=1, progress=False)
    assert folder.name.startswith("cmu-mv4-mine-32px-all-")
    meta = read_meta(folder)
    assert meta["splits"] == {"all": 5}
    world = np.load(folder / "all" / "joints_world_mm.npy")
    # bones are rescaled from the pelvis and the body shifted only vertically (floor contact)
    assert np.allclose(world[:, 0, [0, 2]], POSES[100:105, 0, [0, 2]], atol=1e-3)


def test_joints_inside_mask_and_crop(small_build):
    rep = quality_report(small_build, "val")
    assert rep["moments"] == 24 and rep["views"] == 4
    assert rep["joints_in_crop"] == 1.0
    assert rep["joints_in_mask"] >= 0.97, rep["per_joint_in_mask"]
    assert 0.03 < rep["mask_area_mean"] < 0.3


def test_geodesic_weight_largest_at_extremities(small_build):
    g = np.load(small_build / "val" / "geodesic.npy").astype(np.float32)
    masks = np.load(small_build / "val" / "masks.npy")
    xy = np.load(small_build / "val" / "joints_2d_norm.npy")
    uv = np.rint(geometry.normalized_to_pixels(torch.from_numpy(xy), 64).numpy()).astype(int)
    wins, views = 0, 0
    for i in range(g.shape[0]):
        for c in range(g.shape[1]):
            if g[i, c].max() == g[i, c].min():      # centroid outside the mask: G = 1 (docs/method.md §1)
                continue
            u, v = uv[i, c, :, 0], uv[i, c, :, 1]
            val = g[i, c, v, u]
            inside = masks[i, c, v, u] > 0
            ext = [j for j in (3, 6, 10, 13, 16) if inside[j]]   # ankles, head top, wrists
            torso = [j for j in (0, 7) if inside[j]]            # pelvis, spine
            if ext and torso:
                views += 1
                wins += val[ext].max() > val[torso].max()
    assert views >= 60 and wins / views >= 0.95, (wins, views)


def test_render_moment_ground_truth_is_consistent():
    gen = GeneratorConfig(dataset="cmu-3dhp-rig", rig="3dhp", background="studio", image_size=32)
    out = render_moment(gen, POSES[5000], np.random.default_rng([0, 5000]))
    assert out["images"].shape == (5, 32, 32, 3) and out["images"].dtype == np.uint8
    assert out["geodesic"].dtype == np.float16 and out["masks"].min() == 0 and out["masks"].max() == 1
    cam = np.einsum("cij,nj->cni", out["R"], out["joints_world_mm"]) + out["t_mm"][:, None]
    assert np.allclose(cam, out["joints_cam_mm"], atol=0.05)
    uv = geometry.project_to_pixels(torch.from_numpy(out["joints_cam_mm"]), torch.from_numpy(out["K"]))
    assert np.allclose(geometry.pixels_to_normalized(uv, 32).numpy(), out["joints_2d_norm"], atol=1e-4)
    assert np.allclose(out["root_world_mm"], out["joints_world_mm"][0])


def test_preview_writes_png(small_build, tmp_path):
    out = preview(small_build, tmp_path / "p.png", n=2)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_package_imports_no_orchestration_libraries():
    code = ("import sys, maskpose_core.data.cmu_mv4; "
            "print(sorted(m for m in ('ray', 'mlflow', 'optuna', 'pandas', 'matplotlib') if m in sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "[]"


def test_steep_rig_looks_further_down_than_overhead_and_the_target():
    """Each camera's depression angle (its optical axis below the horizon), hand-derived from the
    layouts: steep atan((3800 - 950) / 3000) ≈ 43.5°, overhead atan((2800 - 950) / 4000) ≈ 24.8°;
    the jitters (±100 mm height and aim, ±7 % distance, ±300 mm subject offset) move it a few degrees."""
    rng = np.random.default_rng(1)
    root = np.array([0.0, 950.0, 0.0])
    down = {}
    for name in ("steep", "overhead", "h36m"):
        R, _ = rig.sample_rig(name, root, 0.0, rng)
        axis_world = R[:, 2]                                   # camera +Z (optical axis) in world coords
        down[name] = np.degrees(np.arcsin(-(axis_world @ rig.UP)))
    assert np.allclose(down["steep"], np.degrees(np.arctan(2850 / 3000)), atol=6.0)
    assert np.allclose(down["overhead"], np.degrees(np.arctan(1850 / 4000)), atol=6.0)
    assert down["steep"].min() > down["overhead"].max() > down["h36m"].max()
