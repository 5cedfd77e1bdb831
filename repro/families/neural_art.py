"""Neural Art (paper §3.5): styling crops of photographs; the family holds its photographs and
style image itself, so it needs no data module."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from jsonargparse.typing import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

from repro.config import Config
from repro.optimizees.base import Problem
from repro.optimizees.encoder import EncoderName
from repro.optimizees.neural_art import NeuralArtFamily
from repro.settings import ProblemSettings, check_name, non_empty, register, require, section


@register
@dataclass(frozen=True)
@section("problem")
class NeuralArtProblem(ProblemSettings):
    """Encoder, images, loss weights, and the extra outputs of its evaluation.

    ``encoder``: ``vgg19`` (torchvision's pretrained weights at ``weights``, or the torch hub
    cache when empty), ``random`` (VGG-19-shaped, He-normal from ``encoder_seed``, channels x
    ``width``) or ``auto`` (vgg19 when its weights file exists, else random). Images are
    scikit-image data names, files or folders. ``images`` names the data of the image triples
    (e.g. ``figure9a``); ``update_views`` writes the appendix's figure10-figure13 data.
    """

    family: Literal["neural_art"] = "neural_art"
    encoder: EncoderName = "auto"
    weights: str = ""
    encoder_seed: NonNegativeInt = 0
    width: PositiveFloat = 1.0
    size: PositiveInt = 64
    style: str = "ihc"
    train_contents: list[str] = field(
        default_factory=lambda: [
            "astronaut", "camera", "coins", "motorcycle_left", "motorcycle_right",
        ]
    )
    val_contents: list[str] = field(default_factory=lambda: ["rocket"])
    test_contents: list[str] = field(default_factory=lambda: ["chelsea", "coffee"])
    content_weight: NonNegativeFloat = 1.0
    style_weight: NonNegativeFloat = 1.0
    tv_weight: NonNegativeFloat = 0.0
    init_noise: NonNegativeFloat = 0.0
    images: str = ""
    update_views: bool = False

    synthetic = "images"

    def __post_init__(self) -> None:
        non_empty(self, "problem", "train_contents", "val_contents", "test_contents")
        check_name(self.images, "problem.images", optional=True)
        require(self.size >= 16,
                f"problem.size: must be 16 or more (the encoder pools 4 times), got {self.size}")

    def build(self, config: Config, data: None = None) -> NeuralArtFamily:
        """The family, with problem streams drawn from ``config.seed``."""
        return self.make(config.seed)

    def make(self, seed: int = 0, verbose: bool = True) -> NeuralArtFamily:
        """Its encoder, its splits' photographs and its style, with problem streams drawn from
        ``seed``. Prints which encoder runs (``verbose``)."""
        from repro.data.images import center_square, check_disjoint, load_split, read_image, resolve
        from repro.optimizees.encoder import EncoderChoice, make_encoder

        names = {"train": self.train_contents, "val": self.val_contents,
                 "test": self.test_contents}
        check_disjoint(names)
        encoder = make_encoder(EncoderChoice(self.encoder, self.weights, self.encoder_seed,
                                             self.width))
        if verbose:
            print(f"neural art encoder: {encoder.description} (problem.encoder: {self.encoder})")
        (style_path,) = resolve(self.style)[:1]
        return NeuralArtFamily(
            encoder=encoder,
            contents={split: load_split(split_names) for split, split_names in names.items()},
            style=center_square(read_image(style_path), self.size),
            size=self.size, content_weight=self.content_weight, style_weight=self.style_weight,
            tv_weight=self.tv_weight, init_noise=self.init_noise, seed=seed,
        )

    def outputs(
        self, config: Config, folder: Path, problem: Problem,
        rules: Mapping[str, tuple[Any, float | None]], meta: Mapping[str, Any], title: str,
    ) -> list[Path]:
        """Figure 9's image triple and the update-rule views (Figures 10-13), as ``images``
        and ``update_views`` ask (:mod:`repro.meta.art`)."""
        from repro.meta import art  # the evaluation's code: not for reading settings

        written = []
        if self.images:
            written += art.write_images(config, folder, problem, rules["LSTM"][0], meta, title)
        if self.update_views:
            written += art.write_update_views(config, folder, problem, rules, meta)
        return written
