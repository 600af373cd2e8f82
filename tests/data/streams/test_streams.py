"""Every frame source round-trips files the tests write, and bad input fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nerveseg.cli import main
from nerveseg.data.streams import DEFAULT_FPS, open_stream
from nerveseg.data.streams.stacks import write_tiff_stack
from nerveseg.data.streams.writer import VideoWriter
from nerveseg.errors import NervesegError


@pytest.fixture(scope="module")
def frames() -> np.ndarray:
    """12 random 48x64 frames: a worst case for a codec, so lossless means lossless."""
    return np.random.default_rng(0).integers(0, 256, (12, 48, 64), dtype=np.uint8)


def read_all(source) -> tuple[list, object]:
    with open_stream(source) as stream:
        return list(stream), stream


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0, preset="lossless") -> Path:
    with VideoWriter(path, fps, preset) as video:
        for frame in frames:
            video.write(frame)
    return path


def test_lossless_video_round_trip_is_exact_with_timestamps(tmp_path, frames):
    got, stream = read_all(write_video(tmp_path / "sweep.mkv", frames))
    assert (stream.fps, stream.fps_from) == (25.0, "container")
    assert [f.index for f in got] == list(range(12))
    assert np.allclose([f.time for f in got], np.arange(12) / 25.0, atol=1e-3)
    assert all(np.array_equal(f.image, frames[i]) for i, f in enumerate(got))


def test_h264_overlay_video_reads_back_every_frame(tmp_path, frames):
    rgb = np.repeat(frames[..., None], 3, axis=3)
    got, stream = read_all(write_video(tmp_path / "o.mp4", rgb, 30.0, preset="overlay"))
    assert len(got) == 12 and stream.frame_count == 12 and stream.fps == 30.0
    assert got[0].image.shape == (48, 64) and got[0].image.dtype == np.uint8


def test_tiff_stack_round_trip(tmp_path, frames):
    path = tmp_path / "stack.tif"
    write_tiff_stack(path, list(frames[:5]))
    got, stream = read_all(path)
    assert (stream.frame_count, stream.fps, stream.fps_from) == (5, DEFAULT_FPS, "assumed")
    assert all(np.array_equal(f.image, frames[i]) for i, f in enumerate(got))
    assert got[3].time == pytest.approx(3 / DEFAULT_FPS)


def test_tiff_stack_with_a_given_rate(tmp_path, frames):
    path = tmp_path / "stack.tiff"
    write_tiff_stack(path, list(frames[:3]))
    with open_stream(path, fps=10) as stream:
        assert [f.time for f in stream] == pytest.approx([0.0, 0.1, 0.2])


def test_dicom_cine_is_cropped_to_the_ultrasound_region_and_timed(tmp_path, frames, dicom_writer):
    path = dicom_writer(tmp_path / "cine.dcm", frames[:6], region=(10, 5, 49, 34), frame_time_ms=40)
    got, stream = read_all(path)
    assert (stream.fps, stream.fps_from, stream.frame_count) == (25.0, "DICOM FrameTime", 6)
    assert [f.time for f in got] == pytest.approx([0.0, 0.04, 0.08, 0.12, 0.16, 0.2])
    for i, frame in enumerate(got):
        assert frame.image.shape == (30, 40)  # rows 5..34, columns 10..49, inclusive
        assert np.array_equal(frame.image, frames[i, 5:35, 10:50])


def test_dicom_frame_time_vector(tmp_path, frames, dicom_writer):
    path = dicom_writer(tmp_path / "v.dcm", frames[:4], frame_time_vector=[0, 40, 40, 50])
    got, stream = read_all(path)
    assert [f.time for f in got] == pytest.approx([0.0, 0.04, 0.08, 0.13])
    assert stream.fps == pytest.approx(3 / 0.13)


def test_dicom_single_frame_without_ending_or_region(tmp_path, frames, dicom_writer):
    path = dicom_writer(tmp_path / "IM0001", frames[:1])  # scanners often write no ending
    got, stream = read_all(path)
    assert len(got) == 1 and np.array_equal(got[0].image, frames[0])
    assert stream.fps_from == "assumed"


def test_dicom_twelve_bit_monochrome1_becomes_eight_bit_with_bright_tissue(tmp_path, dicom_writer):
    values = np.array([[[0, 4095, 2048]], [[4095, 0, 1024]]], dtype=np.uint16)  # 2 frames, 1x3
    path = dicom_writer(tmp_path / "m1.dcm", values, photometric="MONOCHROME1")
    got, _ = read_all(path)
    # MONOCHROME1: 0 is white. 12 bits scale to 8: 4095 -> 255; (4095 - 2048) * 255 / 4095 = 127.5
    assert got[0].image.tolist() == [[255, 0, 127]]
    assert got[1].image.tolist() == [[0, 255, 191]]


def test_folder_is_one_more_source(tmp_path, frames):
    for i in (2, 10, 1):  # natural order: 1, 2, 10
        Image.fromarray(frames[i]).save(tmp_path / f"f_{i}.png")
    got, _ = read_all(tmp_path)
    assert [np.array_equal(f.image, frames[i]) for f, i in zip(got, (1, 2, 10), strict=True)] == [
        True
    ] * 3


def cut(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    out = path.with_name("cut_" + path.name)
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def bad_sources(tmp_path: Path, frames: np.ndarray, write_dicom) -> dict[str, tuple[str, str]]:
    """name -> (source, words the message must hold)."""
    mkv = write_video(tmp_path / "a.mkv", frames)
    mp4 = write_video(tmp_path / "a.mp4", np.repeat(frames[..., None], 3, 3), preset="overlay")
    avi = tmp_path / "a.avi"
    import av

    with av.open(str(avi), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="gray")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    unknown = tmp_path / "codec.avi"
    unknown.write_bytes(avi.read_bytes().replace(b"FMP4", b"ZZZZ"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 50)
    return {
        "truncated mp4 (index lost)": (str(cut(mp4)), "not a readable video"),
        "truncated mkv": (str(cut(mkv)), "truncated"),
        "truncated avi": (str(cut(avi)), "truncated"),
        "unsupported codec": (str(unknown), "no decoder"),
        "not a video": (str(junk), "not a readable video"),
        "DICOM without pixels": (
            str(write_dicom(tmp_path / "np.dcm", frames[:2], pixel_data=False)),
            "no pixel data",
        ),
        "DICOM compressed": (
            str(write_dicom(tmp_path / "c.dcm", frames[:2], compressed=True)),
            "no installed decoder",
        ),
        "missing device": ("/dev/video97", "no such capture device"),
        "missing device index": ("96", "/dev/video96"),
        "missing file": (str(tmp_path / "nothing.mp4"), "not found"),
        "unknown kind": (str(write_text(tmp_path / "notes.txt")), "unknown kind of source"),
    }


def write_text(path: Path) -> Path:
    path.write_text("hello")
    return path


def test_bad_sources_raise_one_line_naming_the_source(tmp_path, frames, dicom_writer):
    for name, (source, words) in bad_sources(tmp_path, frames, dicom_writer).items():
        with pytest.raises(NervesegError) as caught, open_stream(source) as stream:
            for _ in stream:
                pass
        message = str(caught.value)
        assert words in message, (name, message)
        assert source.split("/")[-1] in message or "video" in message, (name, message)
        assert "\n" not in message, name


def test_bad_sources_exit_2_without_traceback(tmp_path, frames, trained_run, capsys, dicom_writer):
    for name, (source, words) in bad_sources(tmp_path, frames, dicom_writer).items():
        out = tmp_path / f"out-{abs(hash(name))}"
        code = main(["live", source, "--run", str(trained_run), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2, name
        assert "Traceback" not in err and words in err, (name, err)
        assert len(err.strip().splitlines()) == 1, (name, err)
