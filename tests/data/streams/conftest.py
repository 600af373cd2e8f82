"""Minimal valid DICOM files written by the tests themselves (no sample data needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, generate_uid

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"  # Ultrasound Image Storage


def write_dicom(
    path: Path,
    frames: np.ndarray,
    *,
    region: tuple[int, int, int, int] | None = None,
    frame_time_ms: float | None = None,
    frame_time_vector: list[float] | None = None,
    pixel_data: bool = True,
    compressed: bool = False,
    photometric: str = "MONOCHROME2",
) -> Path:
    """Write ``(N, H, W)`` ``frames`` (N = 1: a single frame) as a DICOM file.

    uint8 frames are stored with 8 bits, uint16 frames with 12 bits stored (as scanners do).
    """
    count, rows, columns = frames.shape
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME if count > 1 else US_IMAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGLSLossless if compressed else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.PatientName = "Test^Phantom"
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    if frames.dtype == np.uint16:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if count > 1:
        ds.NumberOfFrames = count
    if frame_time_ms is not None:
        ds.FrameTime = frame_time_ms
    if frame_time_vector is not None:
        ds.FrameTimeVector = frame_time_vector
    if region is not None:
        item = Dataset()
        item.RegionSpatialFormat = 1
        item.RegionDataType = 1
        item.RegionFlags = 0
        (
            item.RegionLocationMinX0,
            item.RegionLocationMinY0,
            item.RegionLocationMaxX1,
            item.RegionLocationMaxY1,
        ) = region
        ds.SequenceOfUltrasoundRegions = [item]
    if pixel_data:
        if compressed:  # an encapsulated fragment no installed decoder can read
            from pydicom.encaps import encapsulate

            ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64)] * count)
        else:
            ds.PixelData = np.ascontiguousarray(frames).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.fixture
def dicom_writer():
    """:func:`write_dicom`, for the tests of this folder."""
    return write_dicom
