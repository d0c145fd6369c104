"""The weighted user x artist engagement matrix, id maps, side information and splits."""

from cratedig.matrix.idmap import IdMap
from cratedig.matrix.side import SideInfo

__all__ = ["IdMap", "SideInfo"]
