"""A data source of the user's for specs/examples/user_data.mf: scikit-learn's 8x8 digits
as a plain class (specc's protocol: ``Name(split, **arguments)``, ``__len__``,
``__getitem__(index) -> {field: numpy array}``)."""

import numpy as np
from sklearn.datasets import load_digits

SPLITS = {"train": slice(0, 1200), "val": slice(1200, 1500), "test": slice(1500, None)}


class Digits:
    """The digits of one split: the first 1200 images train, the next 300 val, the rest test."""

    num_classes = 10

    def __init__(self, split, scale=16.0):
        images, labels = load_digits(return_X_y=True)
        self.images = (images[SPLITS[split]] / scale).astype(np.float32)
        self.labels = labels[SPLITS[split]].astype(np.int64)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return {"x": self.images[index], "y": self.labels[index]}
