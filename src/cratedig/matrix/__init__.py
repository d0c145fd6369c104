"""The weighted user x artist engagement matrix, id maps, side information and splits.

See ``docs/engagement.md`` for exactly how events become matrix values.
"""

from cratedig.matrix.engagement import Engagement, build_engagement, store_config
from cratedig.matrix.idmap import IdMap
from cratedig.matrix.recent import RecentEvent, recent_activity
from cratedig.matrix.side import SideInfo, build_side_info
from cratedig.matrix.split import global_time_split, leave_last_out, random_holdout
from cratedig.matrix.weights import EngagementConfig

__all__ = [
    "Engagement",
    "EngagementConfig",
    "IdMap",
    "RecentEvent",
    "SideInfo",
    "build_engagement",
    "build_side_info",
    "global_time_split",
    "leave_last_out",
    "random_holdout",
    "recent_activity",
    "store_config",
]
