"""Image transforms: resizing to the model's input, training-only augmentation, JPEG jitter."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from PIL import Image
from torchvision.transforms import functional as TF

from dfrobust.data.transforms import RandomJPEG, build_transform, model_transform


def _two_colour_image(size: tuple[int, int] = (40, 30)) -> Image.Image:
    image = Image.new("RGB", size, (10, 200, 90))
    image.paste((250, 0, 0), (0, 0, size[0] // 2, size[1]))  # left half red: a flip changes the tensor
    return image


def test_transforms_resize_and_augment_only_training() -> None:
    image = _two_colour_image()
    evaluate = build_transform((16, 24))
    assert evaluate(image).shape == (3, 16, 24)
    assert torch.equal(evaluate(image), evaluate(image))
    torch.manual_seed(0)
    augment = build_transform((16, 24), train=True)
    outputs = [augment(image) for _ in range(8)]
    assert all(out.shape == (3, 16, 24) and out.min() >= 0 and out.max() <= 1 for out in outputs)
    assert any(not torch.allclose(outputs[0], out) for out in outputs[1:])


def test_eval_transform_is_resize_then_to_tensor_with_the_named_filter() -> None:
    image = Image.effect_noise((40, 30), 60).convert("RGB")
    for mode in ("nearest", "bilinear", "bicubic"):
        expected = TF.to_tensor(image.resize((24, 16), getattr(Image.Resampling, mode.upper())))
        assert torch.allclose(build_transform((16, 24), mode)(image), expected, atol=2 / 255), mode
    assert not torch.equal(build_transform((16, 24), "nearest")(image), build_transform((16, 24), "bicubic")(image))


def test_random_jpeg_changes_pixels_but_not_size() -> None:
    image = Image.effect_noise((32, 32), 60).convert("RGB")
    out = RandomJPEG(quality=(10, 10), p=1.0)(image)
    assert out.size == image.size and out.tobytes() != image.tobytes()


def test_random_jpeg_with_p_zero_returns_the_image_untouched() -> None:
    image = Image.effect_noise((32, 32), 60).convert("RGB")
    assert RandomJPEG(p=0.0)(image) is image


def test_model_transform_follows_the_models_data_config() -> None:
    image = Image.effect_noise((50, 40), 60).convert("RGB")
    model = SimpleNamespace(data_config={"input_size": (3, 20, 28), "interpolation": "nearest"})
    out = model_transform(model)(image)
    assert out.shape == (3, 20, 28)
    assert torch.equal(out, build_transform((20, 28), "nearest")(image))  # the model's filter, not bilinear
    assert model_transform(model, image_size=12)(image).shape == (3, 12, 12)  # a run's image_size wins
    no_filter = SimpleNamespace(data_config={"input_size": (3, 16, 16)})
    assert torch.equal(model_transform(no_filter)(image), build_transform((16, 16), "bilinear")(image))
