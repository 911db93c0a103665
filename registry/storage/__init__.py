"""Storage interfaces (blob store, metadata database) and their implementations.

Handlers ask for the interfaces in :mod:`registry.storage.blobs` and
:mod:`registry.storage.database`; implementations are chosen in one place,
:func:`registry.storage.factory.open_storage`.
"""
