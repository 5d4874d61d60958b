"""Datasets, transforms, samplers and DataLoader building for video action recognition.

Importing this package registers everything in ``kinetix.registry``
(``DATASETS``, ``TRANSFORMS``, ``SAMPLERS``).
"""

from kinetix.data.builder import build_dataloader, build_dataset, seed_worker
from kinetix.data.collate import collate
from kinetix.data.datasets import BaseActionDataset, RawframeDataset, VideoDataset
from kinetix.data.decoding import (DecordDecode, DecordInit, OpenCVDecode, OpenCVInit, PyAVDecode,
                                   PyAVInit, RawFrameDecode, UndecodableVideoError, VideoReader)
from kinetix.data.image_datasets import ClsRandomFlip, ClsRandomResizedCrop, ImageNet, PackClsInputs
from kinetix.data.image_loading import LoadRGBFromFile
from kinetix.data.photometric import ColorJitter, RandomErasing
from kinetix.data.randaugment import PytorchVideoWrapper
from kinetix.data.repeat_aug import RepeatAugDataset
from kinetix.data.sampler import DefaultSampler
from kinetix.data.sampling import DenseSampleFrames, SampleFrames, UniformSample
from kinetix.data.synthetic import CLASSES as SYNTHETIC_CLASSES
from kinetix.data.synthetic import FLIP_LABEL_MAP as SYNTHETIC_FLIP_LABEL_MAP
from kinetix.data.synthetic import generate_synthetic
from kinetix.data.transforms import (CenterCrop, Flip, FormatShape, Fuse, MultiScaleCrop,
                                     PackActionInputs, RandomCrop, RandomRescale,
                                     RandomResizedCrop, Resize, TenCrop, ThreeCrop)

__all__ = [
    "BaseActionDataset", "CenterCrop", "ClsRandomFlip", "ClsRandomResizedCrop", "ColorJitter", "DecordDecode",
    "DecordInit", "DefaultSampler",
    "DenseSampleFrames", "Flip", "FormatShape", "Fuse", "ImageNet", "LoadRGBFromFile", "MultiScaleCrop", "OpenCVDecode",
    "OpenCVInit", "PackActionInputs", "PackClsInputs", "PyAVDecode", "PyAVInit", "PytorchVideoWrapper", "RandomCrop",
    "RandomErasing",
    "RandomRescale",
    "RandomResizedCrop", "RawFrameDecode", "RawframeDataset", "RepeatAugDataset", "Resize",
    "SYNTHETIC_CLASSES",
    "SYNTHETIC_FLIP_LABEL_MAP",
    "SampleFrames", "TenCrop", "ThreeCrop", "UndecodableVideoError",
    "UniformSample", "VideoDataset", "VideoReader", "build_dataloader", "build_dataset",
    "collate", "generate_synthetic", "seed_worker",
]
