"""A Litestar file service on memstore: uploads, folders, range downloads, conditional updates.

Run it with ``litestar --app examples.litestar_app.app:app run`` from the repository root
(``pip install "memstore[litestar]" "litestar[standard]"``); its tests are
``tests/test_litestar_example.py``.
"""
