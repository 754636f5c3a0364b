"""The image task on real files: the grid, range and resize, colour channels and crops."""

import numpy as np
import pytest
import torch
from PIL import Image

from bench.core.errors import UsageError
from bench.tasks import load_task


def test_image_task_grid_range_and_resize(camera_32, library):
    assert camera_32.coords.shape == (1024, 2) and camera_32.target.shape == (1024, 1)
    assert camera_32.coords.min().item() == -1.0 and camera_32.coords.max().item() == 1.0
    assert camera_32.target.min().item() >= -1.0 and camera_32.target.max().item() <= 1.0
    assert camera_32.meta["psnr_data_range"] == 2.0 and camera_32.metric == "psnr_db"
    full = load_task("image:braided", library, {})
    assert (full.meta["height_px"], full.meta["width_px"]) == (400, 400) and full.size == 160_000


def test_rgb_images_keep_three_channels(library, tmp_path):
    gray = Image.open(library.path("camera", "image")).resize((24, 24))
    path = tmp_path / "rgb.png"
    Image.merge("RGB", (gray, gray.rotate(90), gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT))).save(path)
    task = load_task(f"image:{path}", library, {})
    assert task.target.shape == (576, 3) and task.info.d_out == 3
    first_row_red = np.asarray(gray, dtype=np.float64)[0] / 255 * 2 - 1
    np.testing.assert_allclose(task.target[:24, 0].numpy(), first_row_red, atol=1e-6)


def test_an_image_crop_is_the_loaded_image_cut_and_one_cell_however_spelled(library):
    from bench.tasks import TASKS, effective_options
    from bench.tasks.image import load_image

    crop = load_task("image:camera", library, {"side": 64, "crop": 16, "crop_row": 3, "crop_col": 5})
    whole = load_image(library, "camera", 64)
    np.testing.assert_array_equal(crop.target.numpy().reshape(16, 16, 1), whole[3:19, 5:21].astype(np.float32))
    assert crop.info.source == "camera" and crop.coords.shape == (256, 2)
    few = load_task("inpaint-image:camera", library,
                    {"side": 64, "crop": 16, "crop_row": 3, "crop_col": 5, "keep": 0.25})
    assert torch.equal(few.held_out.reference, crop.target)
    for name in ("image", "inpaint-image"):  # a corner of 0 is the default corner: the same cell
        assert effective_options(TASKS.get(name), library, "camera", {"crop": 16, "crop_row": 0, "crop_col": 2}) == {
            "crop": 16, "crop_col": 2}
    with pytest.raises(UsageError, match="leaves image 'camera'"):
        load_task("image:camera", library, {"side": 64, "crop": 16, "crop_row": 50})
    with pytest.raises(UsageError, match="give its size with --crop"):
        load_task("image:camera", library, {"crop_col": 4})
