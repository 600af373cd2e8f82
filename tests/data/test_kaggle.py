"""``train_masks.csv`` reading (strict, every bad line named) and submission writing."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nerveseg.data.kaggle import (
    KAGGLE_SHAPE,
    parse_train_masks_csv,
    read_train_masks_csv,
    write_submission,
)
from nerveseg.errors import DataError, NervesegError

HEADER = "subject,img,pixels\n"


def _csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "train_masks.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_kaggle_shape_is_height_then_width() -> None:
    assert KAGGLE_SHAPE == (420, 580)


def test_reads_rows_keyed_by_subject_and_image(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,1,\n1,2,10 5 20 3\n12,07,243600 1\n")
    assert read_train_masks_csv(path) == {"1_1": "", "1_2": "10 5 20 3", "12_7": "243600 1"}


def test_tolerates_bom_blank_lines_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "train_masks.csv"
    path.write_bytes(b"\xef\xbb\xbfsubject,img,pixels\r\n1,1,5 2\r\n\r\n2,3,\r\n")
    assert read_train_masks_csv(path) == {"1_1": "5 2", "2_3": ""}


@pytest.mark.parametrize("header", ["img,pixels\n", "subject,image,pixels\n", "", "1,1,5 2\n"])
def test_wrong_header_names_line_one(tmp_path: Path, header: str) -> None:
    path = _csv(tmp_path, "1,1,5 2\n", header=header)
    with pytest.raises(DataError) as error:
        read_train_masks_csv(path)
    assert "train_masks.csv: line 1: header" in str(error.value)
    assert "subject,img,pixels" in str(error.value)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("a,1,5 2", "whole numbers"),
        ("1,-2,5 2", "whole numbers"),
        ("1,2", "fields"),
        ("1,2,5 2,9", "fields"),
        ("1,2,5 2 7", "odd number"),
        ("1,2,5 x", "'x' is not a whole number"),
        ("1,2,5 3 6 2", "overlap"),
        ("1,2,0 3", ">= 1"),
        ("1,2,5 0", ">= 1"),
        ("1,2,243600 2", "past the frame"),
    ],
)
def test_malformed_rows_name_the_line(tmp_path: Path, row: str, words: str) -> None:
    path = _csv(tmp_path, f"1,1,\n{row}\n")
    with pytest.raises(DataError) as error:
        read_train_masks_csv(path)
    (problem,) = error.value.problems
    assert problem.path == path
    assert problem.reason.startswith("line 3: ")
    assert words in problem.reason


def test_every_bad_line_is_reported_at_once(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,1,x\n1,2,\n1,3,1 2 3\n")
    with pytest.raises(DataError) as error:
        read_train_masks_csv(path)
    reasons = [p.reason for p in error.value.problems]
    assert len(reasons) == 2
    assert reasons[0].startswith("line 2:") and reasons[1].startswith("line 4:")


def test_duplicate_rows_name_both_lines(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,1,\n1,2,5 2\n01,2,5 2\n")
    with pytest.raises(
        DataError, match="line 4: duplicate row for image 1_2 \\(first on line 3\\)"
    ):
        read_train_masks_csv(path)
    table = parse_train_masks_csv(path)
    assert table.bad_names == {"1_2"}
    assert table.rles == {"1_1": ""}


def test_missing_csv_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"train_masks\.csv: file not found"):
        read_train_masks_csv(tmp_path / "train_masks.csv")


def test_non_utf8_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train_masks.csv"
    path.write_bytes(b"subject,img,pixels\n1,1,\xff\xfe\n")
    with pytest.raises(DataError, match="cannot be read as text"):
        read_train_masks_csv(path)


# ---- submission ------------------------------------------------------------------------------


def test_submission_is_sorted_by_integer_id_with_kaggle_header(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "submission.csv"
    write_submission(path, [("10", "1 2"), ("2", ""), ("1", "5 5 20 1")])
    assert path.read_text() == "img,pixels\n1,5 5 20 1\n2,\n10,1 2\n"
    with path.open(newline="") as handle:
        assert next(csv.reader(handle)) == ["img", "pixels"]
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]


def test_submission_accepts_a_generator_and_int_ids(tmp_path: Path) -> None:
    path = tmp_path / "submission.csv"
    write_submission(path, ((i, "") for i in (3, 1, 2)))  # type: ignore[misc]
    assert path.read_text().splitlines() == ["img,pixels", "1,", "2,", "3,"]


@pytest.mark.parametrize("rows", [[("a", "")], [("1", ""), ("01", "")], [("-1", "")]])
def test_submission_refuses_bad_ids_and_writes_nothing(tmp_path: Path, rows: list) -> None:
    path = tmp_path / "submission.csv"
    with pytest.raises(NervesegError):
        write_submission(path, rows)
    assert not path.exists()
