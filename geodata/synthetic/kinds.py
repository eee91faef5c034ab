"""The world generators: one name each, one interface (scene, look, renderer).

``classic`` is ``geodata.synthetic`` (the worlds the shipped model was trained on and the
diff's checks were tuned against); ``village`` is ``geodata.village``, written independently
of it (no shared layout or drawing code; the registry and truth writers are shared), so that
accuracy can be measured on worlds nothing here was built on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from geodata.synthetic.scene import RENDERERS, Scene, WorldConfig


class WorldRenderer(Protocol):
    """Draws one epoch of a scene, window by window, seamlessly."""

    def render(self, left: float, top: float, gsd_m: float, width: int, height: int,
               row0: int = 0, col0: int = 0) -> np.ndarray:
        """An RGB uint8 (HWC) window whose top-left pixel edge is at (left, top)."""
        ...


@dataclass(frozen=True)
class WorldKind:
    """A world generator: its scene builder, its flight look and its renderer."""

    name: str
    build_scene: Callable[[WorldConfig], Scene]
    style: Callable[[int, int], Any]  # (seed, epoch) -> a dataclass of the flight's look
    renderer: Callable[[Scene, int, Any], WorldRenderer]  # (scene, epoch, style)


def world_kind(name: str) -> WorldKind:
    """The generator called ``name`` (one of ``RENDERERS``)."""
    if name == "classic":
        from geodata.synthetic.render import Renderer, random_style
        from geodata.synthetic.scene import build_scene
        return WorldKind("classic", build_scene, random_style, Renderer)
    if name == "village":
        from geodata import village
        return WorldKind("village", village.build_scene, village.random_style,
                         village.VillageRenderer)
    raise ValueError(f"unknown renderer {name!r} (known: {', '.join(RENDERERS)})")


def scene_for(config: WorldConfig) -> Scene:
    """The scene of ``config``, built by its renderer's generator."""
    return world_kind(config.renderer).build_scene(config)


def renderer_for(scene: Scene, epoch: int, style: Any | None = None) -> WorldRenderer:
    """The renderer of ``scene``'s generator for ``epoch`` (its own random look by default)."""
    kind = world_kind(scene.config.renderer)
    if style is None:
        style = kind.style(scene.config.seed, epoch)
    return kind.renderer(scene, epoch, style)


def style_for(config: WorldConfig, epoch: int) -> Any:
    """The random flight look of ``config``'s generator for ``epoch``."""
    return world_kind(config.renderer).style(config.seed, epoch)
