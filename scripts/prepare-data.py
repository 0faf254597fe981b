#!/usr/bin/env python3
"""Turns the raw data sets of the asset cache into train/valid/test JSONL splits.

Python standard library only: it runs at set-up on a fresh machine (called at the end of
scripts/fetch-assets.sh). Deterministic: the same input and seed give byte-identical files.

  Rotten Tomatoes  $CACHE/data/rotten_tomatoes_corpus_full.csv.bz2
                   (columns category ∈ fresh/rotten/plot, text, movie_name)
                   -> $CACHE/data/rotten_tomatoes/{train,valid,test}.jsonl
                   {"text": review, "label": "positive" (fresh) | "negative" (rotten)};
                   plot rows are dropped; split BY MOVIE (80/10/10 of the shuffled movie
                   names), so no movie has reviews in two splits.
  BBC News         $CACHE/data/bbcnews/<class>/*.txt
                   -> $CACHE/data/bbcnews_splits/{train,valid,test}.jsonl
                   {"text": title + body, "label": class}; split 80/10/10 within each class
                   (stratified) over the shuffled, sorted file names.

Every file is written to a temporary name and renamed when complete. Counts go to stdout;
docs/DATA.md records them.

Run: python3 scripts/prepare-data.py [--cache DIR] [--seed N]
"""
import argparse
import bz2
import collections
import csv
import json
import os
import random
import sys

SEED = 20240601
FRACTIONS = (0.8, 0.1, 0.1)
SPLITS = ("train", "valid", "test")


def split_counts(n):
    """Sizes of train/valid/test for n items: valid and test get round(n·0.1) each."""
    valid = round(n * FRACTIONS[1])
    test = round(n * FRACTIONS[2])
    return n - valid - test, valid, test


def partition(items, rng):
    """Shuffles a sorted copy of items and cuts it 80/10/10."""
    items = sorted(items)
    rng.shuffle(items)
    n_train, n_valid, _ = split_counts(len(items))
    return items[:n_train], items[n_train:n_train + n_valid], items[n_train + n_valid:]


def write_jsonl(path, rows):
    """Writes rows as JSON lines to path atomically (temporary file + rename)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def prepare_rotten_tomatoes(cache, seed):
    source = os.path.join(cache, "data", "rotten_tomatoes_corpus_full.csv.bz2")
    out_dir = os.path.join(cache, "data", "rotten_tomatoes")
    labels = {"fresh": "positive", "rotten": "negative"}
    by_movie = collections.defaultdict(list)
    dropped = collections.Counter()
    with bz2.open(source, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            category = row["category"]
            if category not in labels:
                dropped[category] += 1
                continue
            text = " ".join(row["text"].split())
            if not text:
                dropped["empty text"] += 1
                continue
            by_movie[row["movie_name"]].append({"text": text, "label": labels[category]})
    rng = random.Random(seed)
    movie_splits = partition(by_movie.keys(), rng)
    print(f"rotten_tomatoes: {sum(len(v) for v in by_movie.values())} reviews of {len(by_movie)} movies "
          f"(dropped: {dict(dropped)}), seed {seed}")
    for name, movies in zip(SPLITS, movie_splits):
        rows = [r for m in movies for r in by_movie[m]]
        rng.shuffle(rows)
        write_jsonl(os.path.join(out_dir, name + ".jsonl"), rows)
        counts = collections.Counter(r["label"] for r in rows)
        print(f"  {name:5s} {len(rows):6d} rows, {len(movies):4d} movies, "
              f"positive {counts['positive']}, negative {counts['negative']}")
    return out_dir


def read_text(path):
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.replace("\r\n", "\n").strip()


def prepare_bbc(cache, seed):
    source = os.path.join(cache, "data", "bbcnews")
    out_dir = os.path.join(cache, "data", "bbcnews_splits")
    classes = sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)))
    rng = random.Random(seed)
    split_rows = {name: [] for name in SPLITS}
    per_class = {}
    for label in classes:
        files = [f for f in os.listdir(os.path.join(source, label)) if f.endswith(".txt")]
        parts = partition(files, rng)
        per_class[label] = [len(p) for p in parts]
        for name, part in zip(SPLITS, parts):
            for file in part:
                text = read_text(os.path.join(source, label, file))
                if text:
                    split_rows[name].append({"text": text, "label": label})
    print(f"bbcnews: {sum(sum(c) for c in per_class.values())} articles in {len(classes)} classes, seed {seed}")
    for name in SPLITS:
        rows = split_rows[name]
        rng.shuffle(rows)
        write_jsonl(os.path.join(out_dir, name + ".jsonl"), rows)
        counts = collections.Counter(r["label"] for r in rows)
        print(f"  {name:5s} {len(rows):6d} rows: " + ", ".join(f"{c} {counts[c]}" for c in classes))
    return out_dir


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cache", default=os.environ.get("TRIMTAB_CACHE") or os.path.expanduser("~/.cache/trimtab"))
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    try:
        prepare_rotten_tomatoes(args.cache, args.seed)
        prepare_bbc(args.cache, args.seed)
    except FileNotFoundError as error:
        sys.exit(f"prepare-data: {error.filename} is missing; run scripts/fetch-assets.sh first")


if __name__ == "__main__":
    main()
