"""The storage contract, on both faces: what every memstore backend provides.

:class:`Storage` and :class:`BaseStorage` are the async contract; :class:`SyncStorage`
and :class:`SyncBaseStorage` are their synchronous twins, generated from the same
source (docs/guides/design.md, "Backends and the contract").
"""

from memstore._ops import BytesLike, PutData, SyncPutData
from memstore.base._async import BaseStorage, Storage
from memstore.base._sync import SyncBaseStorage, SyncStorage

__all__ = ["BaseStorage", "BytesLike", "PutData", "Storage", "SyncBaseStorage", "SyncPutData", "SyncStorage"]
