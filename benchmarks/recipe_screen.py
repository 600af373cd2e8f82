"""Screen training recipes on real frames: subject-wise folds, equal budgets.

Each candidate is a list of config overrides on top of the defaults (or of ``--preset``). Every
candidate trains once per fold (``data.folds`` subject-wise folds; ``--folds-run`` of them from
``--first-fold``) for the same budget, then ``evaluate`` scores its held-out subjects at full
resolution. The budget is either wall-clock (``--minutes``: ``train.max_minutes``, the schedule
decays to it, so a short run is a complete recipe, not the head of a long one) or, with
``--minutes 0``, the preset's own epochs (``--set train.epochs=N`` for a shorter one). Epoch
budgets do not depend on the machine's load, so folds can train side by side in separate
processes with one thread each (``OMP_NUM_THREADS=1``, ``--first-fold``). Prints one row per
candidate: Dice on nerve frames per fold, their mean and standard deviation (``--tta``: also with
the horizontal flip, and with the flip for the last epoch's weights, chosen blind), epochs, the
largest epoch-to-epoch change of the validation score after the first third of training, and
minutes taken.

    python benchmarks/reconstruct_derived_sample.py ../shared/data/kaggle_nerve_sample /tmp/real_kaggle
    # the README's screen: 5-epoch runs of the cpu preset's model, folds 0 and 1 side by side
    for fold in 0 1; do OMP_NUM_THREADS=1 python benchmarks/recipe_screen.py --data /tmp/real_kaggle \\
        --minutes 0 --set train.epochs=5 --set train.patience=5 --folds-run 1 --first-fold $fold \\
        --candidates ema-cosine,dice-2,augment-strong,lr-1e-3 --out /tmp/screen & done; wait
    # then both folds' table (finished runs are read back, not retrained)
    python benchmarks/recipe_screen.py ... --folds-run 2 --first-fold 0
    # the chosen recipe, the cpu preset as it ships, on 3 folds with the flip TTA scored too
    python benchmarks/recipe_screen.py --data /tmp/real_kaggle --preset cpu --minutes 0 \\
        --folds-run 3 --candidates preset --tta --out /tmp/final
    # what bf16's speed buys (a CPU with native bf16): a larger input, a wider network; fold 0
    for c in bf16-160x224 bf16-width-0.5; do OMP_NUM_THREADS=1 python benchmarks/recipe_screen.py \\
        --data /tmp/real_kaggle --preset cpu --minutes 0 --set train.max_minutes=0 --folds-run 1 \\
        --candidates $c --tta --out /tmp/bf16-screen & done; wait
    # regularisation at the full budget in bf16 (fold 0; then the winner's folds 1 and 2 with
    # --first-fold 1 and 2): stronger augmentation, AdamW, strong + elastic over 32 epochs
    for c in bf16-augment-strong bf16-adamw bf16-augment-elastic-32; do OMP_NUM_THREADS=1 \
        python benchmarks/recipe_screen.py --data /tmp/real_kaggle --preset cpu --minutes 0 \
        --set train.max_minutes=0 --folds-run 1 --candidates $c --tta --out /tmp/reg & done
    # architecture on top of that recipe, fold 0 (then the attention U-Net's 22 epochs, the cpu
    # preset now, on folds 0-2 with --candidates cpu-attention-unet-22 --first-fold 0, 1, 2)
    for c in cpu-unet cpu-lr-2e-3 cpu-attention-unet; do OMP_NUM_THREADS=1 python \
        benchmarks/recipe_screen.py --data /tmp/real_kaggle --preset cpu --minutes 0 \
        --set train.max_minutes=0 --folds-run 1 --candidates $c --tta --out /tmp/arch & done
    # the attention U-Net's capacity, on fold 1 where it trails (then cpu-attention-unet-depth-5
    # and cpu-attention-unet-batch-8 on fold 2 with --first-fold 2)
    for c in cpu-attention-unet-width-0.5 cpu-attention-unet-depth-5; do OMP_NUM_THREADS=1 \
        python benchmarks/recipe_screen.py --data /tmp/real_kaggle --preset cpu --minutes 0 \
        --set train.max_minutes=0 --folds-run 1 --first-fold 1 --candidates $c --tta \
        --out /tmp/capacity & done
    # more augmentation (noise, blur, elastic on 80%), on folds 1 and 2
    for fold in 1 2; do OMP_NUM_THREADS=1 python benchmarks/recipe_screen.py --data \\
        /tmp/real_kaggle --preset cpu --minutes 0 --set train.max_minutes=0 --folds-run 1 \\
        --first-fold $fold --candidates cpu-attention-unet-augment-more --tta --out /tmp/more & done
    # ensembles and test-time views of finished screens: benchmarks/held_out_averages.py

Writes ``RUN/<candidate>/fold-K/`` runs and ``summary.json`` into ``--out``; a candidate/fold
whose run already finished is read back instead of retrained, and one that was interrupted
resumes from its last checkpoint, so the script can be stopped and started again.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from nerveseg import runs
from nerveseg.config import load_config
from nerveseg.evaluation import evaluate_run
from nerveseg.evaluation.frame_scorer import FrameScorer
from nerveseg.evaluation.holdout import predict_holdout
from nerveseg.training import train


def epochs(n: int) -> list[str]:
    """An epoch budget whose whole schedule runs: early stopping's patience set to match."""
    return [f"train.epochs={n}", f"train.patience={n}"]


BASE = ["model.width=0.25", "data.image_size=[128,160]"]
PLATEAU = ["train.ema_epochs=0", "optim.scheduler=plateau", "train.grad_clip_norm=0"]
STRONG_AUGMENT = [  # more turn, zoom and intensity, more often, and shifts of up to 10%
    "augment.rotation_degrees=15", "augment.rotation_p=0.8", "augment.scale=0.2",
    "augment.translate=0.1", "augment.intensity_p=0.8", "augment.contrast=0.3",
    "augment.brightness=0.2",
]  # fmt: skip
ELASTIC = ["augment.elastic_p=0.5"]  # sigma 16 px, alpha 4: ~3 px on average at 128x160
ADAMW = ["optim.optimizer=adamw", "optim.weight_decay=0.05"]  # decay on filters only
BF16 = ["model.name=segnet", "train.precision=bf16-mixed", "train.channels_last=true"]
# the cpu preset before the attention U-Net (SegNet); what --preset cpu now adds the rest to
SEGNET_32 = ["model.name=segnet", *epochs(32)]
CANDIDATES = {
    "plateau": [*BASE, *PLATEAU],  # the recipe before weight averaging
    "ema-cosine": BASE,  # today's defaults: EMA of weights, warm-up + cosine, clipping
    "width-0.5": ["model.width=0.5", "data.image_size=[128,160]"],
    "size-160x224": ["model.width=0.25", "data.image_size=[160,224]"],
    "size-96x128": ["model.width=0.25", "data.image_size=[96,128]"],
    "no-augment": [*BASE, "augment.enabled=false"],
    "dice-2": [*BASE, "loss.dice_weight=2"],
    "augment-strong": [*BASE, *STRONG_AUGMENT],
    "lr-1e-3": [*BASE, "optim.lr=0.001"],
    "preset": [],  # the --preset as it is
    # bf16 autocast and NHWC: twice the images per second on a CPU with native bf16 (AVX512-BF16
    # or AMX), spent on a larger input or a wider network within the same 30 minutes
    "bf16-160x224": [*BF16, "data.image_size=[160,224]", *epochs(20)],
    "bf16-width-0.5": [*BF16, "model.width=0.5", *epochs(14)],
    "bf16-augment-strong": [*BF16, *STRONG_AUGMENT],
    "bf16-adamw": [*BF16, *ADAMW],
    # augmentation against the early peak: stronger and elastic, over the preset's 18 epochs and
    # over the 32 that bf16 fits into 30 minutes on 2 cores
    "bf16-augment-elastic": [*BF16, *STRONG_AUGMENT, *ELASTIC],
    "bf16-augment-elastic-32": [
        *BF16,
        *STRONG_AUGMENT,
        *ELASTIC,
        *epochs(32),
    ],
    "bf16-width-0.5-augment-elastic": [
        *BF16,
        *STRONG_AUGMENT,
        *ELASTIC,
        "model.width=0.5",
        *epochs(14),
    ],
    # on top of --preset cpu (strong + elastic augmentation, bf16 where native): SegNet as the
    # preset was, with twice the learning rate; a U-Net's concatenated skips for the boundary,
    # at the 22 epochs its 30% lower training speed fits into 30 minutes
    "cpu-segnet": SEGNET_32,
    "cpu-lr-2e-3": [*SEGNET_32, "optim.lr=0.002"],
    "cpu-unet": ["model.name=unet", *epochs(22)],
    # the U-Net's early plateau leaves time: a larger input at the 12 epochs it fits into 30
    # minutes, or the attention gates' U-Net (28 epochs: it trained 1.1-1.3x faster than the U-Net)
    "cpu-unet-160x224": [
        "model.name=unet",
        "data.image_size=[160,224]",
        *epochs(12),
    ],
    "cpu-attention-unet": ["model.name=attention_unet", *epochs(28)],
    "cpu-attention-unet-22": [
        "model.name=attention_unet",
        *epochs(22),
    ],
    # the attention U-Net plateaus by epoch ~12 of 22: capacity for the time instead. Width 0.5
    # (7.94 M parameters) trains at 10.7 images/s against width 0.25's 26.9 (bf16, NHWC), so 11
    # epochs fill the 30 minutes; a fifth pooling level adds context for almost no time
    "cpu-attention-unet-width-0.5": [
        "model.name=attention_unet",
        "model.width=0.5",
        *epochs(11),
    ],
    "cpu-attention-unet-depth-5": [
        "model.name=attention_unet",
        "model.depth=5",
        *epochs(22),
    ],
    # twice the optimiser steps per epoch, with noisier gradients: fold 2 peaks at epoch 8 and
    # then slips, as a model that fits its 32 training subjects too closely
    "cpu-attention-unet-batch-8": [
        "model.name=attention_unet",
        "train.batch_size=8",
        *epochs(22),
    ],
    # the preset is flat after epoch ~12 of 22 and augmentation is the lever that moved every
    # recipe so far: scanners and settings the 32 training subjects lack (noise, blur), and
    # the probe's pressure on more frames
    "cpu-attention-unet-augment-more": [
        "model.name=attention_unet",
        "augment.noise_p=0.5",
        "augment.noise_std=0.03",
        "augment.blur_p=0.3",
        "augment.elastic_p=0.8",
        *epochs(22),
    ],
    # a loss tight on the score: the Lovasz hinge equals each frame's Jaccard loss times the
    # margin on confident predictions, where BCE and soft Dice only lean towards it; added to
    # them, or in soft Dice's place
    "cpu-attention-unet-lovasz": [
        "model.name=attention_unet",
        "loss.lovasz_weight=1",
        *epochs(22),
    ],
    "cpu-attention-unet-lovasz-no-dice": [
        "model.name=attention_unet",
        "loss.lovasz_weight=1",
        "loss.dice_weight=0",
        *epochs(22),
    ],
    # a learning curve: the preset on 16 and 8 of a fold's 32 training subjects (the same
    # held-out subjects, the same 22 epochs), to see whether more labelled subjects or more
    # fitting is what the score lacks
    "preset-16-subjects": ["data.train_subjects=16"],
    "preset-8-subjects": ["data.train_subjects=8"],
}


def run_one(
    data: Path,
    run: Path,
    overrides: list[str],
    fold: int,
    folds: int,
    minutes: float,
    preset: str | None,
):
    """Train (unless already finished) and evaluate one candidate on one fold.

    ``minutes`` 0 keeps the preset's own budget (``train.max_minutes`` and ``train.epochs``).
    """
    summary = run / "summary.json"
    if not summary.is_file() and runs.last_checkpoint(run).is_file():
        train(None, run, resume=True)  # an interrupted benchmark goes on where it stopped
    if not summary.is_file():
        budget = ["train.epochs=1000", f"train.max_minutes={minutes}", "train.patience=1000"]
        config = load_config(
            preset,
            [
                f"data.root={data}", f"data.folds={folds}", f"data.fold={fold}",
                *(budget if minutes else []), "train.progress_bar=false", *overrides,
            ],
        )  # fmt: skip
        train(config, run, overwrite=True)
    result = json.loads(summary.read_text())
    scored = run / "evaluation.json"  # written by evaluate_run; stale once model.pt is newer
    if not scored.is_file() or scored.stat().st_mtime < (run / "model.pt").stat().st_mtime:
        evaluate_run(run)
    return result, json.loads(scored.read_text())


def tta_dice_nerve(run: Path) -> float:
    """Dice on the held-out nerve frames with the horizontal flip averaged in (``--tta``),
    kept in ``RUN/evaluation-tta.json`` beside the plain ``evaluation.json``."""
    scored = run / "evaluation-tta.json"
    if not scored.is_file() or scored.stat().st_mtime < (run / "model.pt").stat().st_mtime:
        held = predict_holdout(run, tta=True)[0]
        _, dice = FrameScorer.from_holdout(held).summary(held.postprocess)
        scored.write_text(json.dumps({"dice_nerve": dice, "tta": "hflip"}))
    return json.loads(scored.read_text())["dice_nerve"]


def last_epoch_dice_nerve(run: Path) -> float:
    """Dice on the held-out nerve frames of the *last* epoch's averaged weights (``last.ckpt``),
    with the flip. ``model.pt`` is the epoch that scored best on these same frames, which
    flatters a curve by its noise; a fixed schedule's last epoch is chosen blind. Its model
    file goes to ``RUN/last-epoch/`` beside a copy of the split, kept in
    ``RUN/evaluation-last.json``."""
    import shutil

    from nerveseg.checkpoint import load_model, network_weights, save_model_file

    scored = run / "evaluation-last.json"
    if not scored.is_file() or scored.stat().st_mtime < (run / "model.pt").stat().st_mtime:
        last = run / "last-epoch"
        last.mkdir(exist_ok=True)
        shutil.copy(run / runs.SPLIT, last / runs.SPLIT)
        model, info = load_model(run / runs.MODEL)
        model.load_state_dict(network_weights(runs.last_checkpoint(run)))  # as validation saw it
        save_model_file(last / runs.MODEL, model, info)
        held = predict_holdout(last, tta=True)[0]
        _, dice = FrameScorer.from_holdout(held).summary(held.postprocess)
        scored.write_text(json.dumps({"dice_nerve": dice, "tta": "hflip", "epoch": "last"}))
    return json.loads(scored.read_text())["dice_nerve"]


def score_curve(run: Path) -> list[float]:
    import csv

    with open(run / "metrics.csv", newline="") as handle:
        return [float(r["val/score"]) for r in csv.DictReader(handle) if r.get("val/score")]


def largest_change_after_third(scores: list[float]) -> float:
    """The criterion of the recipe issue: epoch-to-epoch change once a third of training is done."""
    tail = np.array(scores[len(scores) // 3 :])
    return float(np.abs(np.diff(tail)).max()) if len(tail) > 1 else 0.0


def plot_curves(rows: list[dict], path: Path) -> None:
    """One line per candidate and fold: the validation score per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for index, row in enumerate(rows):
        colour = f"C{index}"
        for fold, curve in enumerate(row["val_score_curves"]):
            label = row["candidate"] if fold == 0 else None
            axis.plot(
                curve,
                marker="o",
                ms=3,
                color=colour,
                ls=("-", "--", ":", "-.")[fold % 4],
                label=label,
            )
    axis.set_xlabel("epoch")
    axis.set_ylabel("validation score (training size; line style = fold)")
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def print_table(rows: list[dict]) -> None:
    """The README's table: one row per candidate, per-fold figures then mean ± std."""

    def spread(values: list[float]) -> str:
        std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
        return f"{np.mean(values):.3f} ± {std:.3f}"

    tta = all(r["dice_nerve_tta"] for r in rows)
    print(
        "\n| candidate | Dice on nerve frames, per fold | mean ± std "
        + ("| with flip TTA, per fold | mean ± std | last epoch, flip | mean ± std " if tta else "")
        + "| epochs | largest change after 1/3 | training min |"
    )
    print("| --- " * (10 if tta else 6) + "|")
    for r in rows:
        with_tta = ""
        if tta:
            per_fold = ", ".join(f"{d:.3f}" for d in r["dice_nerve_tta"])
            last = r.get("dice_nerve_last_epoch_tta", [])
            last_fold = ", ".join(f"{d:.3f}" for d in last)
            with_tta = (
                f"| {per_fold} | {spread(r['dice_nerve_tta'])} | {last_fold} | {spread(last)} "
            )
        print(
            f"| {r['candidate']} | {', '.join(f'{d:.3f}' for d in r['dice_nerve'])} "
            f"| {spread(r['dice_nerve'])} {with_tta}"
            f"| {', '.join(map(str, r['epochs']))} "
            f"| {', '.join(f'{c:.3f}' for c in r['max_change_after_third'])} "
            f"| {', '.join(f'{m:.1f}' for m in r['training_minutes'])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/screen"))
    parser.add_argument(
        "--minutes", type=float, default=5.0, help="training budget per run; 0 = the preset's"
    )
    parser.add_argument(
        "--preset", default=None, help="built-in preset or YAML under the overrides"
    )
    parser.add_argument("--folds", type=int, default=5, help="subject-wise folds of the data")
    parser.add_argument("--folds-run", type=int, default=2, help="how many of them to train")
    parser.add_argument(
        "--first-fold", type=int, default=0, help="start at this fold (split folds over processes)"
    )
    parser.add_argument("--candidates", default="plateau,ema-cosine", help="comma-separated")
    parser.add_argument("--set", action="append", default=[], help="extra override for all")
    parser.add_argument("--tta", action="store_true", help="also score with the horizontal flip")
    args = parser.parse_args()
    names = args.candidates.split(",")
    unknown = [n for n in names if n not in CANDIDATES]
    if unknown:
        parser.error(f"unknown candidates {unknown}; known: {', '.join(CANDIDATES)}")
    rows = []
    for name in names:
        dice, tta, last, epochs, changes, minutes, curves = [], [], [], [], [], [], []
        for fold in range(args.first_fold, args.first_fold + args.folds_run):
            run = args.out / name / f"fold-{fold}"
            started = time.perf_counter()
            result, evaluation = run_one(
                args.data,
                run,
                [*CANDIDATES[name], *args.set],
                fold,
                args.folds,
                args.minutes,
                args.preset,
            )
            curve = score_curve(run)
            dice.append(evaluation["dice_nerve"])
            if args.tta:
                tta.append(tta_dice_nerve(run))
                last.append(last_epoch_dice_nerve(run))
            epochs.append(result["epochs_trained"])
            changes.append(largest_change_after_third(curve))
            minutes.append(result["seconds"] / 60)
            curves.append([round(s, 4) for s in curve])
            print(
                f"{name} fold {fold}: Dice nerve {dice[-1]:.3f}, {epochs[-1]} epochs, "
                f"training {minutes[-1]:.1f} min (with evaluation "
                f"{(time.perf_counter() - started) / 60:.1f} min)",
                flush=True,
            )
        rows.append(
            {
                "candidate": name,
                "overrides": CANDIDATES[name] + args.set,
                "dice_nerve": dice,
                "mean": float(np.mean(dice)),
                "std": float(np.std(dice, ddof=1)) if len(dice) > 1 else 0.0,
                "dice_nerve_tta": tta,
                "dice_nerve_last_epoch_tta": last,
                "epochs": epochs,
                "max_change_after_third": changes,
                "training_minutes": minutes,
                "val_score_curves": curves,
            }
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))
    plot_curves(rows, args.out / "curves.png")
    print(f"validation curves: {args.out / 'curves.png'}")
    print_table(rows)


if __name__ == "__main__":
    main()
