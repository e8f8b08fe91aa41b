"""Example applications built on memstore (not part of the installed package)."""
