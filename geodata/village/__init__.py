"""An independent synthetic world: a Chinese urban village district and its own renderer.

Written apart from :mod:`geodata.synthetic` (it shares only the scene dataclasses, the truth
rules and the registry writer) so the pipeline can be measured on worlds it was not built on.
"""

from geodata.village.render import VillageRenderer, VillageStyle, random_style
from geodata.village.world import Item, Patch, VillageScene, build_scene

__all__ = ["Item", "Patch", "VillageRenderer", "VillageScene", "VillageStyle", "build_scene",
           "random_style"]
