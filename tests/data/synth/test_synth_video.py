"""``nerveseg synth --video``: sweeps whose decoded frames and truth are the rendered ones."""

from __future__ import annotations

import numpy as np

from nerveseg.cli import main
from nerveseg.data.images import read_image, read_mask
from nerveseg.data.streams import open_stream
from nerveseg.data.synth.video import sweep_paths


def test_sweep_videos_decode_to_the_training_frames_and_masks(tiny_data, tmp_path, capsys):
    out = tmp_path / "sweeps"
    args = ["synth", str(out), "--video", "--preset", "smoke", "--fps", "25"]
    assert main(args) == 0
    assert "wrote 4 sweep videos (32 frames" in capsys.readouterr().out
    video, masks = sweep_paths(out, 2)
    with open_stream(video) as frames, open_stream(masks) as truths:
        assert frames.fps == 25.0
        pairs = list(zip(frames, truths, strict=True))
    assert len(pairs) == 8
    for frame, truth in pairs:  # the smoke preset's set (tiny_data) holds the same subject 2
        name = f"2_{frame.index + 1}"
        assert np.array_equal(frame.image, read_image(tiny_data / "train" / f"{name}.tif"))
        assert np.array_equal(
            truth.image > 127, read_mask(tiny_data / "train" / f"{name}_mask.tif")
        )
    assert main(args) == 2  # never replaced unless asked
    assert "--overwrite" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0
