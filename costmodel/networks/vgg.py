"""VGG-16 (configuration D), ImageNet and the CIFAR-10 variant.

"Very Deep Convolutional Networks for Large-Scale Image Recognition", Simonyan & Zisserman,
ICLR 2015, https://arxiv.org/abs/1409.1556. ImageNet: 3x3 convs with bias and ReLU (no BN),
five 2x2 max pools, then 25088 -> 4096 -> 4096 -> 1000 (138,357,544 params; torchvision's
``vgg16`` minus its identity-sized adaptive pool). CIFAR variant (the common one used in the
pruning / SPConv literature): BN after each conv, input 32x32, a single linear 512 -> 10.
"""

from __future__ import annotations

from ..designs.conv import Conv
from .glue import FC, MaxPool
from .graph import Cursor, Network, Seq

# channels of each 3x3 conv; "M" = 2x2 max pool, stride 2
CFG_VGG16: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                              512, 512, 512, "M", 512, 512, 512, "M"]


def _features(cur: Cursor, bn: bool, conv3x3=None) -> Seq:
    features = Seq("features")
    for i, item in enumerate(CFG_VGG16):
        name = f"features.{i}"
        if item == "M":
            ho, wo = cur.h // 2, cur.w // 2
            features.children.append(cur.layer(name, MaxPool(c_in=cur.c, h=cur.h, w=cur.w, k=2, stride=2,
                                                              padding=0), (cur.c, ho, wo), "pool"))
            continue
        c_out = int(item)
        if conv3x3 is None:
            spec = Conv(c_in=cur.c, c_out=c_out, k=3, h=cur.h, w=cur.w, bias=not bn, bn=bn, act=True)
            features.children.append(cur.layer(name, spec, (c_out, cur.h, cur.w), "conv3x3"))
        else:
            h, w = cur.h, cur.w
            for suffix, spec in conv3x3(cur.c, c_out, 3, 1, h, w, True, bn=bn):
                features.children.append(cur.layer(name + suffix, spec, (c_out, h, w), "conv3x3"))
    return features


def vgg16(resolution: int = 224, num_classes: int = 1000, conv3x3=None, swap_label: str = "") -> Network:
    """VGG-16 for ImageNet (no BN, conv bias); ``conv3x3`` swaps every conv except the first."""
    cur = Cursor(3, resolution, resolution)
    root = Seq("", [_features(cur, bn=False, conv3x3=_keep_first(conv3x3, bn=False))])
    fin = cur.c * cur.h * cur.w
    root.children.append(cur.layer("classifier.0", FC(c_in=fin, c_out=4096, act=True, dropout=True),
                                   (4096,), "classifier"))
    root.children.append(cur.layer("classifier.1", FC(c_in=4096, c_out=4096, act=True, dropout=True),
                                   (4096,), "classifier"))
    root.children.append(cur.layer("classifier.2", FC(c_in=4096, c_out=num_classes), (num_classes,),
                                   "classifier"))
    title = "VGG-16" + (f" ({swap_label})" if swap_label else "")
    return Network("vgg16", root, (3, resolution, resolution), title,
                   {"resolution": resolution, "num_classes": num_classes})


def vgg16_cifar(resolution: int = 32, num_classes: int = 10, conv3x3=None, swap_label: str = "") -> Network:
    """VGG-16 for CIFAR: conv-BN-ReLU, five max pools (32 -> 1), one linear 512 -> classes."""
    cur = Cursor(3, resolution, resolution)
    root = Seq("", [_features(cur, bn=True, conv3x3=_keep_first(conv3x3, bn=True))])
    fin = cur.c * cur.h * cur.w
    root.children.append(cur.layer("classifier", FC(c_in=fin, c_out=num_classes), (num_classes,),
                                   "classifier"))
    title = "VGG-16 CIFAR" + (f" ({swap_label})" if swap_label else "")
    return Network("vgg16_cifar", root, (3, resolution, resolution), title,
                   {"resolution": resolution, "num_classes": num_classes})


def _keep_first(conv3x3, bn: bool):
    """Swaps leave the first conv (3 input channels) as in the plain network. The swapped-in
    designs replace conv [+ BN] + ReLU and bring their own BNs (VGG-16 ImageNet has none)."""
    if conv3x3 is None:
        return None

    def make(c_in, c_out, k, stride, h, w, act, bn=bn):
        if c_in == 3:
            return [("", Conv(c_in=c_in, c_out=c_out, k=k, stride=stride, h=h, w=w, bias=not bn, bn=bn,
                              act=act))]
        return conv3x3(c_in, c_out, k, stride, h, w, act, bn=bn)

    return make
