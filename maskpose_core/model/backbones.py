"""Backbones of the detector φ: tiny CNN (smoke), small ResNet (quick), ResNet-50 (paper).

Each maps inputs (B, C_in + 2, S, S) — RGB and/or mask plus two CoordConv channels — to a feature map
(B, out_channels, S/8, S/8). ResNet-50 follows torchvision's module layout (``conv1``,
``bn1``, ``layer1..4``) so a torchvision weight file loads with ``load_backbone_weights``;
it is defined here so the CPU install needs no torchvision and nothing is downloaded.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

COORD_CHANNELS = 2  # x/y coordinate channels (CoordConv, Liu et al. 2018)
INPUT_CHANNELS = {"image": 3, "image+mask": 4, "mask": 1, "image*mask": 3}   # image*mask: background removed

log = logging.getLogger(__name__)


def conv_bn(cin: int, cout: int, *, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + idt)


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 bottleneck (stride on the 3×3 conv), same parameter names."""
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        return torch.relu(self.bn3(self.conv3(y)) + idt)


class TinyCNN(nn.Module):
    """Smoke profile: 3 stride-2 conv stages, (B, C_in, S, S) -> (B, 4w, S/8, S/8)."""

    def __init__(self, width: int, in_channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(in_channels, width, stride=2), conv_bn(width, 2 * width, stride=2),
                                  conv_bn(2 * width, 4 * width, stride=2))
        self.out_channels = 4 * width

    def forward(self, x):
        return self.body(x)


class SmallResNet(nn.Module):
    """Quick profile: a stride-2 stem, then 3 stages of one BasicBlock (strides 1, 2, 2).

    (B, C_in, S, S) -> (B, 4w, S/8, S/8); ≈ 19 M multiply-adds per 64-px image at w = 16,
    sized for 2 CPU cores (studies/benchmarks.py measures the training throughput).
    """

    def __init__(self, width: int, in_channels: int):
        super().__init__()
        w = width
        self.stem = conv_bn(in_channels, w, stride=2)
        self.layer1 = BasicBlock(w, w)
        self.layer2 = BasicBlock(w, 2 * w, 2)
        self.layer3 = BasicBlock(2 * w, 4 * w, 2)
        self.out_channels = 4 * w

    def forward(self, x):
        return self.layer3(self.layer2(self.layer1(self.stem(x))))


class ResNet50(nn.Module):
    """Paper profile: torchvision's ResNet-50 layout through layer4 (stride 32), as in
    integral regression (Sun et al. 2018); the detector's deconvolution head brings the
    resolution back up. (B, C_in, S, S) -> (B, 2048, S/32, S/32).
    """

    def __init__(self, in_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            layers = [Bottleneck(cin, planes, stride)]
            cin = planes * Bottleneck.expansion
            layers += [Bottleneck(cin, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.out_channels = cin

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


def build_backbone(name: str, width: int, in_channels: int) -> nn.Module:
    """Backbone by name; its ``out_channels`` and ``stride`` attributes describe the output.

    ``in_channels`` counts the input planes including the 2 coordinate channels.
    """
    if name == "tiny":
        net, stride = TinyCNN(width, in_channels), 8
    elif name == "resnet_small":
        net, stride = SmallResNet(width, in_channels), 8
    elif name == "resnet50":
        net, stride = ResNet50(in_channels), 32
    else:
        raise ValueError(f"model.backbone: unknown backbone {name!r}")
    net.stride = stride
    return net


def load_backbone_weights(backbone: nn.Module, path: str) -> list[str]:
    """Load a backbone weight file (``model.weights``: e.g. torchvision's resnet50 state dict)
    into ``backbone``.

    The first conv's RGB filters are copied, other input channels start at zero;
    ``fc.*`` keys are ignored. Returns the backbone keys the file did not provide, and logs how
    many it loaded. A maskpose checkpoint (``{"format": …, "model": …}`` or keys under
    ``detector.``) is refused naming ``model.init``, and so is a file none of whose keys fit.
    """
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"model.weights: no such file {file}")
    state = torch.load(file, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f"model.weights {file}: not a state dict (a {type(state).__name__})")
    if "model" in state and isinstance(state.get("model"), dict) or any(str(k).startswith("detector.") for k in state):
        raise ValueError(f"model.weights {file} is a maskpose checkpoint, not a backbone weight file; to start a "
                         f"run from its detector (and ψ), use model.init={file}")
    own = backbone.state_dict()
    fitting = [k for k in state if k in own]
    if not fitting:
        raise ValueError(f"model.weights {file}: none of its {len(state)} keys fits the {type(backbone).__name__} "
                         f"backbone (first keys {sorted(map(str, state))[:3]}; expected e.g. {sorted(own)[:3]})")
    for key in fitting:
        value = state[key]
        if key == "conv1.weight" and value.shape[1] == 3 and own[key].shape[1] > 3:
            padded = torch.zeros_like(own[key])
            padded[:, :3] = value
            value = padded
        if own[key].shape != value.shape:
            raise ValueError(f"{file}: {key} has shape {tuple(value.shape)}, expected {tuple(own[key].shape)}")
        own[key] = value
    backbone.load_state_dict(own)
    log.info("model.weights %s: loaded %d of the backbone's %d tensors", file, len(fitting), len(own))
    return sorted(set(own) - set(state))
