from tests.world import World, world

__all__ = ["World", "world"]  # the hand-counted registry, as a fixture here
